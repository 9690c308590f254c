"""``single_thread``: an autouse fixture for modules that score tiny networks (import it into the module).

One intra-op thread is the fastest for them, and two stall badly when other
processes keep both cores busy (each of thousands of small parallel regions
waits for a descheduled thread), which made these tests 10-30x slower.
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
