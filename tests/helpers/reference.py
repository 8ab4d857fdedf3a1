"""The authors' reference tensors: $SMIS_REFERENCE_DIR, else shared/reference/official beside the
checkout (what they hold and how they were made: docs/faithfulness.md)."""

import dataclasses
import os
from pathlib import Path

import torch

from smis.training.options import LossOptions, OptimOptions
from tests.helpers.paths import REPO

REFERENCE = Path(os.environ.get("SMIS_REFERENCE_DIR", REPO.parent / "shared" / "reference" / "official"))
DATASETS = ("deepfashion", "cityscapes", "ade20k")
# the authors' loss and optimiser settings: the typed options' defaults (tests/unit/training/test_options.py
# holds them against configs/loss/authors.yaml and configs/optim/authors.yaml)
AUTHORS_LOSS = dataclasses.asdict(LossOptions())
AUTHORS_OPTIM = dataclasses.asdict(OptimOptions())


def load_io(reference_dir: Path, dataset: str) -> dict:
    return torch.load(reference_dir / dataset / "io.pt", weights_only=True)
