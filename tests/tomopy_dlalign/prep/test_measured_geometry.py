"""Alignment on the geometries of measured scans: thin slabs, limited and full-turn
angles, samples wider than the field of view. Residuals are scored with the rigid motion
of the sample removed (the part of any jitter no alignment can see)."""

import logging

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep import residual_rmse

HALF_TURN = np.linspace(0, np.pi, 121, endpoint=False)


def _horizontal_jitter(prj, amplitude, seed):
    rng = np.random.default_rng(seed)
    dx = rng.uniform(-amplitude, amplitude, prj.shape[0])
    return tda.shift(prj, dx, 0), dx


@pytest.mark.parametrize("rows", [pytest.param(1, marks=pytest.mark.long), 2])
def test_a_thin_slab_is_aligned_horizontally_instead_of_refused(rows, caplog):
    vol = simulate.phantom("cells", 128, rows, seed=3) * 0.05
    jittered, dx = _horizontal_jitter(tda.reproject(vol, HALF_TURN), 6, seed=1)
    with caplog.at_level(logging.WARNING):
        aligned, ex, ey = tda.align(jittered, HALF_TURN)
    assert "aligning the horizontal axis only" in caplog.text
    assert aligned.shape == jittered.shape and not ey.any()
    before = residual_rmse(0 * dx, 0 * dx, dx, 0 * dx, theta=HALF_TURN)
    assert residual_rmse(ex, ey, dx, 0 * dx, theta=HALF_TURN) < min(0.3, 0.1 * before)


@pytest.mark.parametrize("theta", [np.radians(np.linspace(-60, 60, 121)),
                                   np.linspace(0, 2 * np.pi, 181, endpoint=False)],
                         ids=["+-60 degrees", "360 degrees"])
def test_limited_and_full_turn_scans_are_aligned(theta):
    vol = simulate.phantom("nanoparticles", 64, 48, seed=3) * 0.05
    jittered, dx, dy = tda.add_jitter(tda.reproject(vol, theta), -6, 6, seed=1)
    _, ex, ey = tda.align(jittered, theta)
    assert residual_rmse(ex, ey, dx, dy, theta=theta) < 0.2


def test_a_sample_wider_than_the_field_of_view_is_aligned():
    wide = simulate.phantom("cells", 144, 48, seed=3) * 0.05      # 1.5 times the 96 seen
    seen = tda.reproject(wide, HALF_TURN)[:, :, 24:120]
    jittered, dx, dy = tda.add_jitter(seen, -6, 6, seed=1)
    _, ex, ey = tda.align(jittered, HALF_TURN)
    assert residual_rmse(ex, ey, dx, dy, theta=HALF_TURN) < 0.3


def test_adapt_keeps_the_weights_of_a_slab_the_network_does_not_align():
    vol = simulate.phantom("cells", 64, 2, seed=3) * 0.05
    jittered, _ = _horizontal_jitter(tda.reproject(vol, HALF_TURN), 3, seed=1)
    base, info = tda.load_model(), {}
    assert tda.adapt(jittered, HALF_TURN, model=base, info=info) is base
    assert info["kept"] == "start" and "thin" in info["reason"]
