import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep.registration import phase_correlation

THETA = np.linspace(0, np.pi, 40, endpoint=False)


@pytest.fixture(scope="module")
def pair():
    # an isolated sample inside the field of view
    rng = np.random.default_rng(3)
    vol = np.zeros((64, 96, 96), np.float32)
    vol[16:48] = simulate.phantom("battery", 96, 32, seed=1)
    clean = tda.reproject(vol, THETA)
    dx, dy = rng.uniform(-3, 3, THETA.size), rng.uniform(-3, 3, THETA.size)
    return clean, tda.shift(clean, dx, dy), dx, dy


def test_subpixel_shifts_are_found_within_01_px(pair):
    clean, moved, dx, dy = pair
    ex, ey = phase_correlation(moved, clean)
    assert np.sqrt(np.mean((ex - dx) ** 2 + (ey - dy) ** 2)) < 0.1


def test_salt_and_pepper_noise_at_20_percent_is_tolerated(pair):
    clean, moved, dx, dy = pair
    noisy = simulate.add_noise(moved, "salt_pepper", 0.2, seed=0)
    ex, ey = phase_correlation(noisy, clean)
    assert np.mean(np.hypot(ex - dx, ey - dy) < 0.5) > 0.95


def test_mismatched_stacks_are_rejected(pair):
    with pytest.raises(ValueError, match="stacks of one shape"):
        phase_correlation(pair[0], pair[0][:, :10])
