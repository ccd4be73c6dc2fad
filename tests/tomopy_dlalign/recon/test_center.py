"""The rotation axis found from the projections, and axes that cannot reconstruct."""

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import simulate

THETA = np.linspace(0, np.pi, 90, endpoint=False)


@pytest.fixture(scope="module")
def vol():
    return simulate.phantom("cells", 96, 4, seed=2) * 0.05


def _jitter_axis(dx, theta):
    # the part of a jitter that no method can tell from an axis offset: the constant of
    # its least-squares fit by 1, cos(theta), sin(theta)
    basis = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    return np.linalg.lstsq(basis, dx, rcond=None)[0][0]


@pytest.mark.parametrize("axis", [48.0, 40.3, 59.75])
@pytest.mark.parametrize("method", ["mass", "mirror"])
def test_a_known_axis_offset_is_found_to_a_tenth_of_a_pixel(vol, axis, method):
    prj = tda.reproject(vol, THETA, center=axis)
    assert tda.find_center(prj, THETA, method=method) == pytest.approx(axis, abs=0.1)


def test_with_jitter_the_axis_found_is_the_one_the_projections_define(vol):
    prj = tda.reproject(vol, THETA, center=45.0)
    jittered, dx, _ = tda.add_jitter(prj, -6, 6, seed=3)
    expected = 45.0 + _jitter_axis(dx, THETA)
    assert tda.find_center(jittered, THETA) == pytest.approx(expected, abs=0.3)


def test_limited_and_full_turn_scans_find_the_axis(vol):
    for theta in (np.radians(np.linspace(-60, 60, 121)),
                  np.linspace(0, 2 * np.pi, 180, endpoint=False)):
        prj = tda.reproject(vol, theta, center=51.5)
        assert tda.find_center(prj, theta) == pytest.approx(51.5, abs=0.15)


def test_a_sample_wider_than_the_field_of_view_uses_the_mirror_estimate(vol):
    wide = simulate.phantom("cells", 144, 4, seed=2) * 0.05
    prj = tda.reproject(wide, THETA, center=70.0)[:, :, 24:120]   # 96 columns seen
    assert tda.find_center(prj, THETA) == pytest.approx(70.0 - 24, abs=0.3)


def test_mlem_and_fbp_take_center_auto_by_default(vol):
    prj = tda.reproject(vol, THETA, center=41.0)
    truth = tda.fbp(prj, THETA, center=41.0)
    assert np.abs(tda.fbp(prj, THETA) - truth).max() < 0.02 * np.abs(truth).max()
    assert tda.fbp(prj, THETA, center=None).shape == truth.shape   # None: ncol / 2


@pytest.mark.parametrize("center", [-40.0, 150.0])
def test_an_axis_that_leaves_the_object_outside_the_circle_is_an_error(vol, center):
    prj = tda.reproject(vol, THETA)
    for func in (tda.mlem, tda.fbp, tda.align):
        with pytest.raises(ValueError, match="outside the reconstruction circle"):
            func(prj, THETA, center=center)


def test_bad_center_values_are_refused_by_name(vol):
    prj = tda.reproject(vol, THETA)
    with pytest.raises(ValueError, match="center must be a number, 'auto' or None"):
        tda.mlem(prj, THETA, center="middle")
    with pytest.raises(ValueError, match="method must be one of"):
        tda.find_center(prj, THETA, method="vo")
    with pytest.raises(ValueError, match="half a turn"):
        tda.find_center(prj[:30], THETA[:30], method="mirror")
