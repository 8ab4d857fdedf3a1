"""Pretrained segmenters for the mIoU / pixel-accuracy metrics (SPEC §10): build_segmenter(name, **kwargs)."""

from __future__ import annotations

from smis.evaluation.segmenters.base import Segmenter
from smis.evaluation.segmenters.drn import DRNSegmenter, drn_d_105
from smis.evaluation.segmenters.torchvision_model import TorchvisionSegmenter, torchvision_segmenter
from smis.evaluation.segmenters.upernet import UperNetSegmenter, upernet101

SEGMENTERS = {
    "drn_d_105": drn_d_105,                # Cityscapes; weights=
    "upernet101": upernet101,              # ADE20K; encoder_weights=, decoder_weights= or weights_dir=
    "torchvision": torchvision_segmenter,  # model=, num_classes=, weights=, dataset=
}


def build_segmenter(name: str, **kwargs) -> Segmenter:
    """A segmenter in eval mode with frozen weights; kwargs go to its builder (see SEGMENTERS)."""
    try:
        builder = SEGMENTERS[name]
    except KeyError:
        raise ValueError(f"unknown segmenter {name!r}; expected one of {sorted(SEGMENTERS)}") from None
    return builder(**kwargs)


__all__ = ["DRNSegmenter", "SEGMENTERS", "Segmenter", "TorchvisionSegmenter", "UperNetSegmenter",
           "build_segmenter", "drn_d_105", "torchvision_segmenter", "upernet101"]
