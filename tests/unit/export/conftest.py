import pytest


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every export test on one torch thread (the tests give onnxruntime one too): see one_thread."""
