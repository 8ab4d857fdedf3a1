"""Streaming confusion matrix for segmentation scores (mIoU, pixel accuracy), and the Cityscapes
labelId -> trainId mapping under which those scores are reported.

Averaging rule (matches cityscapesScripts evalPixelLevelSemanticLabeling.py): a class's IoU is
TP / (TP + FP + FN) over pixels whose ground truth is not ignored; a class with TP + FP + FN = 0 (absent
from the ground truth and never predicted on a non-ignored pixel) has IoU NaN, and mIoU is the mean over
the classes whose IoU is not NaN (their getScoreAverage). A prediction outside 0..K-1 on a non-ignored
pixel counts as a miss (FN of the true class), as the official script counts a prediction of an ignored
labelId. Pixel accuracy is correct / non-ignored pixels.
"""

from __future__ import annotations

import math

import torch

# Cityscapes labelId (value of gtFine *_labelIds.png, our class id) -> trainId, from cityscapesScripts
# helpers/labels.py (the 19 evaluated classes get 0..18, every class with ignoreInEval gets 255). labelId 34
# is our slot for "license plate" (labels.py id -1, trainId -1, ignoreInEval), so it is ignored as well.
_IGNORED = 255
CITYSCAPES_TRAIN_ID = torch.tensor([
    _IGNORED,  # 0  unlabeled
    _IGNORED,  # 1  ego vehicle
    _IGNORED,  # 2  rectification border
    _IGNORED,  # 3  out of roi
    _IGNORED,  # 4  static
    _IGNORED,  # 5  dynamic
    _IGNORED,  # 6  ground
    0,         # 7  road
    1,         # 8  sidewalk
    _IGNORED,  # 9  parking
    _IGNORED,  # 10 rail track
    2,         # 11 building
    3,         # 12 wall
    4,         # 13 fence
    _IGNORED,  # 14 guard rail
    _IGNORED,  # 15 bridge
    _IGNORED,  # 16 tunnel
    5,         # 17 pole
    _IGNORED,  # 18 polegroup
    6,         # 19 traffic light
    7,         # 20 traffic sign
    8,         # 21 vegetation
    9,         # 22 terrain
    10,        # 23 sky
    11,        # 24 person
    12,        # 25 rider
    13,        # 26 car
    14,        # 27 truck
    15,        # 28 bus
    _IGNORED,  # 29 caravan
    _IGNORED,  # 30 trailer
    16,        # 31 train
    17,        # 32 motorcycle
    18,        # 33 bicycle
    _IGNORED,  # 34 license plate
], dtype=torch.int64)

# Names of trainIds 0..18 (the classes DRN-D-105 predicts).
CITYSCAPES_TRAIN_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)


def cityscapes_train_ids(label_ids: torch.Tensor, ignore_index: int = _IGNORED) -> torch.Tensor:
    """Cityscapes labelIds (any shape, values 0..34) -> trainIds 0..18, ignored classes -> ignore_index."""
    if label_ids.is_floating_point() or label_ids.is_complex():
        raise TypeError(f"label ids must be an integer tensor; got {label_ids.dtype}")
    if label_ids.numel() and (label_ids.min() < 0 or label_ids.max() >= len(CITYSCAPES_TRAIN_ID)):
        raise ValueError(f"Cityscapes labelIds must be in 0..{len(CITYSCAPES_TRAIN_ID) - 1}; got values in "
                         f"{int(label_ids.min())}..{int(label_ids.max())}")
    lookup = CITYSCAPES_TRAIN_ID.to(label_ids.device)
    if ignore_index != _IGNORED:
        lookup = torch.where(lookup == _IGNORED, ignore_index, lookup)
    return lookup[label_ids.long()]


class ConfusionMatrix:
    """Pixel counts over batches: rows = ground truth class, columns = predicted class.

    `state` is a (K, K+1) int64 tensor; column K counts predictions outside 0..K-1. Ground-truth pixels equal
    to ignore_index are skipped. For DDP, sum `state` across ranks (all_reduce()) or merge() copies.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is a class id (num_classes={num_classes})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.state = torch.zeros(num_classes, num_classes + 1, dtype=torch.int64)

    @property
    def matrix(self) -> torch.Tensor:
        """(K, K) counts of [true class, predicted class]; misses outside 0..K-1 are left out."""
        return self.state[:, : self.num_classes]

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: pred and target (B,H,W) integer class ids (target may hold ignore_index)."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        for name, t in (("pred", pred), ("target", target)):
            if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                raise TypeError(f"{name} must hold integer class ids; got {t.dtype} "
                                "(argmax the logits first)")
        k = self.num_classes
        pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
        keep = target != self.ignore_index
        if ((target < 0) | (target >= k))[keep].any():
            raise ValueError(f"target holds ids outside 0..{k - 1} that are not "
                             f"ignore_index={self.ignore_index} (map the label map to the segmenter's "
                             "classes first)")
        pred, target = pred[keep], target[keep]
        pred = torch.where((pred >= 0) & (pred < k), pred, k)  # out-of-range prediction -> miss column
        counts = torch.bincount(target * (k + 1) + pred, minlength=k * (k + 1))  # (K*(K+1),)
        if self.state.device != counts.device:
            self.state = self.state.to(counts.device)
        self.state += counts.view(k, k + 1)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. from another process) into this one; returns self."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError("cannot merge confusion matrices with different num_classes / ignore_index")
        self.state += other.state.to(self.state.device)
        return self

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the counts over all DDP processes in place (no-op outside torch.distributed); returns self."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.state)
        return self

    def reset(self) -> None:
        self.state.zero_()

    def iou(self) -> torch.Tensor:
        """(K,) float64 per-class IoU; NaN for a class absent from the ground truth and the predictions."""
        state = self.state.double()
        tp = state.diagonal()
        fn = state.sum(1) - tp                      # includes misses outside 0..K-1
        fp = state[:, : self.num_classes].sum(0) - tp
        denom = tp + fp + fn
        return torch.where(denom > 0, tp / denom.clamp(min=1), math.nan)

    def miou(self) -> float:
        """Mean IoU over the classes whose IoU is defined (not NaN); NaN if none is."""
        return float(torch.nanmean(self.iou()))

    def pixel_accuracy(self) -> float:
        """Correctly classified / all non-ignored ground-truth pixels; NaN if there are none."""
        total = int(self.state.sum())
        return int(self.state.diagonal().sum()) / total if total else math.nan
