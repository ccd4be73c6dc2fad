"""Shared fixtures: small simulated patterns whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from cdi_plugins import simulate


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    # the test machine has 2 cores shared with other work
    torch.set_num_threads(2)


@pytest.fixture()
def one_thread():
    """One torch thread: 64x64 problems are too small to share between threads (on the
    busy 2-core test machine two threads ran the CNN refinement 60 times slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def bio64():
    """Noiseless 64x64 pattern of a real, positive, elongated object, and a loose support
    (the true support grown by 3 pixels)."""
    sim = simulate.simulate_pattern(simulate.biological_object(64, seed=0), photons=None)
    loose = ndimage.binary_dilation(sim.support, iterations=3)
    return sim, loose


@pytest.fixture(scope="session")
def noisy_bio64():
    """The same object with 1e6 photons (moderate Poisson noise)."""
    sim = simulate.simulate_pattern(simulate.biological_object(64, seed=0), photons=1e6, seed=1)
    loose = ndimage.binary_dilation(sim.support, iterations=3)
    return sim, loose


@pytest.fixture
def rng():
    return np.random.default_rng(0)
