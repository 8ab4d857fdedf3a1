"""The dataset specs (see `spec.py`). Adding a dataset: one spec here, one Dataset class, one
config file in `configs/dataset/`."""

from __future__ import annotations

from .classes import (
    ADE20K_CLASSES,
    CITYSCAPES_CLASSES,
    CITYSCAPES_TRAIN_CLASSES,
    CITYSCAPES_TRAIN_IDS,
    DEEPFASHION_CLASSES,
    SYNTHETIC_CLASSES,
)
from .spec import DatasetSpec, LabelRule

# 35 labelIds with instance maps; scored on the 19 trainIds (cityscapesScripts' protocol).
CITYSCAPES = DatasetSpec(
    "cityscapes", **CITYSCAPES_CLASSES, label_rule=LabelRule(),
    eval_ids=CITYSCAPES_TRAIN_IDS, eval_names=CITYSCAPES_TRAIN_CLASSES,
    model_preset="cityscapes", native_size=(256, 512), instance_maps=True)

# File value v -> class v-1; 0 ("unlabelled") and 255 -> the last class, "unknown" (150),
# which is never scored.
ADE20K = DatasetSpec(
    "ade20k", **ADE20K_CLASSES,
    label_rule=LabelRule(shift=-1, unknown_index=150, num_labelled=150),
    model_preset="ade20k", native_size=(256, 256))

DEEPFASHION = DatasetSpec("deepfashion", **DEEPFASHION_CLASSES, model_preset="deepfashion",
                          native_size=(256, 256))

SYNTHETIC = DatasetSpec("synthetic", **SYNTHETIC_CLASSES, model_preset="small", native_size=(128, 128))

SPECS: dict[str, DatasetSpec] = {s.name: s for s in (CITYSCAPES, ADE20K, DEEPFASHION, SYNTHETIC)}


def dataset_spec(name: str) -> DatasetSpec:
    """A built-in dataset's spec by name, with an error listing the names."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(SPECS)}") from None
