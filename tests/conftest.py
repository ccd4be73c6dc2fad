import numpy as np
import pytest
import torch

from tomopy_dlalign.recon.projectors import astra_cuda_usable


def pytest_collection_modifyitems(config, items):
    # GPU tests skip cleanly on machines without CUDA (CI never has one).
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def cuda_astra():
    if not astra_cuda_usable():
        pytest.skip("ASTRA sees no CUDA GPU")
    return True
