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


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 worker processes with 1 thread each, shared by every test that
    runs tasks on Dask (starting one costs seconds); skipped where Dask is missing."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client
