"""Streaming confusion matrix for segmentation scores (mIoU, pixel accuracy). The ground truth it
is fed comes from the dataset spec (DatasetSpec.ground_truth: e.g. Cityscapes labelId -> trainId).

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


class ConfusionMatrix:
    """Pixel counts over batches: rows = ground truth class, columns = predicted class.

    `state` is a (K, K+1) int64 tensor; column K counts predictions outside 0..K-1. Ground-truth pixels equal
    to ignore_index are skipped.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is a class id (num_classes={num_classes})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.state = torch.zeros(num_classes, num_classes + 1, dtype=torch.int64)

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
