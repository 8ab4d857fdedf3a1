"""Packing a trained model as a shipped file: generator and encoder in fp16, checked to decode as
the fp32 model does (`smis-pack CHECKPOINT`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .loader import load_model
from .model_files import save_model


def pack(model: str | os.PathLike, out: str | os.PathLike, tolerance: float = 1e-2,
         prefer_ema: bool = True, **meta) -> Path:
    """Write a trained model (a run's model.pt or a checkpoint) as a shipped file: generator and
    encoder only, floating-point tensors stored in fp16. Refuses (and writes nothing) when a
    decode from the fp16 file differs from the fp32 model's by more than `tolerance` (images in
    [-1, 1]) on a seeded code. prefer_ema: from a training checkpoint, the EMA generator when
    there is one. `meta` (the model card's facts) is stored in the file."""
    def generator_and_encoder():
        return load_model(model, prefer_ema=prefer_ema, with_discriminator=False)

    net, packed, restored = generator_and_encoder(), generator_and_encoder().half(), generator_and_encoder()
    restored.load_state_dict(packed.state_dict())      # what load_model makes of the shipped file
    H, W = net.spec.native_size
    label = torch.arange(net.config.num_classes).repeat_interleave(H * W // net.config.num_classes + 1)
    label = label[:H * W].view(1, 1, H, W)
    z = net.sample_z(1, H, W, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        error = float((net.decode(label, z) - restored.decode(label, z)).abs().max())
    if error > tolerance:
        raise ValueError(f"{model}: fp16 storage changes a decode by {error:.4f} (> {tolerance}); "
                         "not written")
    return save_model(packed, out, fp16_max_decode_error=error, **meta)
