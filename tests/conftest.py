import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("SMIS_REFERENCE_DIR",
                                REPO.parent / "shared" / "reference" / "official"))
DATASETS = ("deepfashion", "cityscapes", "ade20k")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "deepfashion" / "io.pt").is_file():
        pytest.skip(f"authors' reference tensors not found in {REFERENCE} "
                    "(set SMIS_REFERENCE_DIR)")
    return REFERENCE


def load_io(reference_dir: Path, dataset: str) -> dict:
    return torch.load(reference_dir / dataset / "io.pt", weights_only=True)
