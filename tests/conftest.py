import os
import tempfile
from pathlib import Path

import pytest
import torch

from tests.helpers.hydra_configs import SHARED_RUN
from tests.helpers.reference import REFERENCE

if os.environ.get("PYTEST_XDIST_WORKER"):     # parallel workers (make test): one torch thread each
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """`gpu`-marked tests need CUDA: skipped (with the reason shown) where there is none."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module's tests (`pytestmark = pytest.mark.usefixtures(
    "one_thread")`): on a shared 2-core machine two OpenMP threads spin-wait on each other, and a
    call that takes 1/10 s on one thread can take seconds while another process holds a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "deepfashion" / "io.pt").is_file():
        pytest.skip(f"authors' reference tensors not found in {REFERENCE} "
                    "(set SMIS_REFERENCE_DIR)")
    return REFERENCE


@pytest.fixture(scope="session")
def trained_synthetic(tmp_path_factory) -> dict:
    """3 epochs on synthetic scenes (2 steps each; the learning rate decays in the third), with CSV
    and TensorBoard logs: {"run_dir", "metrics", "model_path"}. Read it, never write to it."""
    from tests.helpers.hydra_configs import SYNTHETIC, run

    return run(tmp_path_factory.mktemp("trained_synthetic"), *SYNTHETIC, *SHARED_RUN)


@pytest.fixture(scope="session")
def short_synthetic(tmp_path_factory) -> dict:
    """2 optimiser steps on synthetic scenes; its model.pt is a starting point for init_from."""
    from tests.helpers.hydra_configs import SYNTHETIC, run

    return run(tmp_path_factory.mktemp("short_synthetic"), *SYNTHETIC, "trainer.max_steps=2",
               "trainer.limit_val_batches=1")


# Hermetic weight files: an empty torch hub cache of the test session's own, and no download attempts
# (the download tests switch SMIS_OFFLINE off for their file:// addresses).
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="smis-tests-torch-home-")
os.environ["SMIS_OFFLINE"] = "1"
os.environ.pop("SMIS_WEIGHTS_MIRROR", None)
