"""The authors' reference tensors: $SMIS_REFERENCE_DIR, else shared/reference/official beside the
checkout (what they hold and how they were made: docs/faithfulness.md)."""

import os
from pathlib import Path

import torch

from tests.helpers.paths import REPO

REFERENCE = Path(os.environ.get("SMIS_REFERENCE_DIR", REPO.parent / "shared" / "reference" / "official"))
DATASETS = ("deepfashion", "cityscapes", "ade20k")


def load_io(reference_dir: Path, dataset: str) -> dict:
    return torch.load(reference_dir / dataset / "io.pt", weights_only=True)
