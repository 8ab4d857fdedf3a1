import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread (the tests give onnxruntime one too): on a 2-core machine, two threads'
    spin-waits cost seconds per call while another process holds a core; one thread, 1/10 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
