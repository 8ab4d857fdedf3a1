"""The authors' presets at widths that run in milliseconds, randomly initialised but calibrated, so
that comparisons of their outputs mean something."""

import torch
from torch import nn

from smis.data.spec import DatasetSpec
from smis.networks import GroupDNet, preset

# preset -> overrides giving the same structure (group schedule, norm rule, instance edges) at
# 4 classes and a few channels per group
REDUCED = {
    "cityscapes": ({"num_classes": 4, "ngf": 4, "encoder_width": 8}, (4, 4, 4, 4, 2, 2, 1)),
    "deepfashion": ({"num_classes": 8, "ngf": 8, "encoder_width": 16}, None),
    "ade20k": ({"num_classes": 8, "ngf": 8, "encoder_width": 16}, (8, 8, 8, 8, 4, 2, 1)),
}


def calibrated(net: GroupDNet, size=(64, 128), passes: int = 4) -> GroupDNet:
    """`net` after a few training-mode passes on random scenes, back in eval mode: spectral norm's
    u and v after power iterations (random ones give a sigma near 0, so huge weights and images
    saturated at +-1, where any two computations agree) and the BatchNorm statistics of the last
    two passes."""
    g = torch.Generator().manual_seed(0)
    C = net.config.num_classes
    net.train()
    with torch.no_grad():
        for i in range(passes):
            if i == passes - 2:                     # the norms' statistics of the calibrated weights
                for m in net.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.reset_running_stats()
                        m.momentum = None           # a plain average of the passes
            label = torch.randint(0, C, (2, 1, size[0] // 8, size[1] // 8), generator=g)
            label = label.repeat_interleave(8, 2).repeat_interleave(8, 3)
            z = torch.randn(2, *net.latent_shape(*size), generator=g)
            net.decode(label, z, label if net.config.instance_edges else None)
            net.encode(torch.rand(2, 3, *size, generator=g) * 2 - 1, label)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return net.eval()


def reduced_authors_net(name: str = "cityscapes") -> GroupDNet:
    """The authors' `name` preset, reduced (REDUCED), calibrated, with a made-up dataset spec
    (class names, palette, native size 64x128). Initialised with xavier gain 1, not the authors'
    0.02: at 0.02 the conditional norms' convs barely touch the image (another label map, or
    another instance map, changes it by 1e-5), so a comparison at 1e-4 could not see a wrong
    one-hot; at 1 they change it by about 1."""
    from dataclasses import replace

    overrides, schedule = REDUCED[name]
    config = preset(name, **overrides)
    if schedule is not None:
        config = replace(config, group_schedule=schedule)
    torch.manual_seed(0)
    net = calibrated(GroupDNet(config, with_discriminator=False, init_gain=1.0))
    C = config.num_classes
    net.spec = DatasetSpec(f"tiny-{name}", tuple(f"{name} class {i}" for i in range(C)),
                           tuple((10 * i, 255 - 10 * i, 7 * i) for i in range(C)), model_preset=name,
                           native_size=(64, 128), instance_maps=config.instance_edges)
    return net
