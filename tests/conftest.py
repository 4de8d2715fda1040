"""Fixtures shared by the whole suite."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def single_torch_thread():
    """One intra-op thread: on a 2-core CI machine more threads make these
    small models slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
