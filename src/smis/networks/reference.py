"""The authors' algorithm for the same maths: the reference that every faster path here is tested
against (tests/unit/networks, tests/unit/training/test_fast_step.py) and the baseline of the
speed benchmarks (smis.benchmarks.train_step --variants authors).

Our networks compute what the authors' code computes, with three faster paths. `use_authors_paths`
switches a GroupDNet back to the authors' computation of each (the weights and results stay the
same, to float round-off):

    encoder   ours: only the present (image, class) pairs (GroupEncoder.encode_present)
              authors: every class's crop cut by a loop over classes (class_crops_loop), then the
              whole grouped encoder
    norms     ours: gamma and beta from the label windows at class borders (borders.py), else
              one conv with both weights (CondGroupNorm.modulation)
              authors: two dense convs over the whole map (mlp_gamma, mlp_beta)
    D pass    (the training step, GroupDNetModule.use_authors_paths) ours: fake, then real without
              gradient; authors: one pass over both
"""

from __future__ import annotations

import torch

from .crops import class_crops_loop, class_mean_colours
from .normalization import CondGroupNorm


def authors_encode(net, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar as the authors compute them: every class's crop (their loop), the whole encoder."""
    C = net.config.num_classes
    crops = class_crops_loop(image, label.long(), C)                               # (B, 3C, H, W)
    mean = class_mean_colours(image, label.long(), C) if net.encoder.mean_colour_to_mu is not None else None
    return net.encoder(crops, mean)


def use_authors_paths(net):
    """Switch `net` (a GroupDNet) to the authors' encoder and conditional-norm computation; returns it."""
    net.encode_paths = "authors"
    for module in net.generator.modules():
        if isinstance(module, CondGroupNorm):
            module.border_path = False
            module.fused_modulation = False
    return net
