"""What the evaluation tests share: the protocols' claims, cityscapesScripts' own scores, images as
a dataset for the FID libraries."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image


class Uint8Images(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


PRESETS = ("smis", "groupdnet", "spade", "oasis")
CSAIL_SCALES = [300, 375, 450, 525, 600]
# What each preset claims to pin (its YAML comments say why and how sure): FID pipeline, then per dataset.
CLAIMS = {
    "smis": {"fid": ("torch_fidelity", "round"),
             "cityscapes": {"size": None, "ignored_in_accuracy": "exclude", "absent_classes": "skip"},
             "ade20k": {"release": "ade20k-resnet101-upernet", "scales": None, "absent_classes": "skip"}},
    "groupdnet": {"fid": ("pytorch_fid", "truncate"),
                  "cityscapes": {"size": [1024, 2048], "ignored_in_accuracy": "exclude",
                                 "absent_classes": "skip"},
                  "ade20k": {"release": "ade20k-resnet101-upernet", "scales": CSAIL_SCALES,
                             "absent_classes": "zero"}},
    "spade": {"fid": ("pytorch_fid", "truncate"),
              "cityscapes": {"size": [1024, 2048], "ignored_in_accuracy": "count", "absent_classes": "skip"},
              "ade20k": {"release": "baseline-resnet101-upernet", "scales": [450], "absent_classes": "zero"}},
    "oasis": {"fid": ("pytorch_fid", "none"),
              "cityscapes": {"size": None, "ignored_in_accuracy": "exclude", "absent_classes": "skip"},
              "ade20k": {"release": "ade20k-resnet101-upernet", "scales": CSAIL_SCALES,
                         "absent_classes": "zero"}},
}


def official_scores(tmp_path, gts, preds) -> dict:
    """labelId ground truths and predictions ((H, W) uint8 arrays), written as Cityscapes files
    and scored by cityscapesScripts' own evaluation."""
    gt_files, pred_files = [], []
    for n, (gt, pred) in enumerate(zip(gts, preds)):
        gt_files.append(tmp_path / f"city_{n:06d}_000019_gtFine_labelIds.png")
        pred_files.append(tmp_path / f"city_{n:06d}_000019_pred.png")
        Image.fromarray(gt).save(gt_files[-1])
        Image.fromarray(pred).save(pred_files[-1])
    return _official_scores(pred_files, gt_files)


def _official_scores(pred_files, gt_files):
    ev = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")
    args = copy.copy(ev.args)  # the module's global settings object; keep it untouched
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    return ev.evaluateImgLists([str(p) for p in pred_files], [str(g) for g in gt_files], args)
