"""Pretrained segmenters for the mIoU / pixel-accuracy metrics (docs/model.md §10). Configs choose one by
its builder's `_target_` (e.g. smis.evaluation.segmenters.drn_d_105) with the builder's arguments."""

from smis.evaluation.segmenters.base import Segmenter
from smis.evaluation.segmenters.drn import DRNSegmenter, drn_d_105
from smis.evaluation.segmenters.torchvision_model import TorchvisionSegmenter, torchvision_segmenter
from smis.evaluation.segmenters.upernet import UperNetSegmenter, upernet101

__all__ = ["DRNSegmenter", "Segmenter", "TorchvisionSegmenter", "UperNetSegmenter", "drn_d_105",
           "torchvision_segmenter", "upernet101"]
