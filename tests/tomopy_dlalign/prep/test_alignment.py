import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import compat, simulate
from tomopy_dlalign.prep import AlignInfo, fraction_within, residual_rmse

THETA = np.linspace(0, np.pi, 60, endpoint=False)
# the phantoms are projected about the detector's middle: tests that score the shifts
# against the drawn jitter give that axis (center='auto' absorbs the jitter's mean)
AXIS = 32.0


@pytest.fixture(scope="module")
def scan():
    vol = simulate.phantom("nanoparticles", 64, 48, seed=11) * 0.05
    clean = tda.reproject(vol, THETA)
    jittered, dx, dy = tda.add_jitter(clean, -5, 5, seed=4)
    return clean, jittered, dx, dy


def test_shipped_model_corrects_small_case_below_1px(scan):
    clean, jittered, dx, dy = scan
    info = AlignInfo()
    aligned, ex, ey = tda.align(jittered, THETA, center=AXIS, info=info)
    assert residual_rmse(ex, ey, dx, dy) < 1.0
    assert fraction_within(ex, ey, dx, dy) > 0.8
    # the network alone, before the polish, already removes most of the jitter
    net_dx, net_dy = info.history[0]
    before = residual_rmse(0 * dx, 0 * dy, dx, dy)
    assert residual_rmse(net_dx, net_dy, dx, dy) < 0.5 * before


def test_align_returns_shifts_in_add_jitter_sense(scan):
    _, jittered, dx, dy = scan
    _, ex, ey = tda.align(jittered, THETA, center=AXIS)
    # same sign and scale as the drawn shifts: a regression slope near 1
    assert np.polyfit(dx, ex, 1)[0] == pytest.approx(1.0, abs=0.1)
    assert np.polyfit(dy, ey, 1)[0] == pytest.approx(1.0, abs=0.1)


def test_aligned_stack_is_closer_to_the_truth(scan):
    clean, jittered, dx, dy = scan
    aligned, ex, ey = tda.align(jittered, THETA, center=AXIS)
    # undo the unobservable common vertical offset before comparing
    aligned = tda.shift(aligned, 0, -np.mean(dy))
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert (np.linalg.norm(aligned[inner] - clean[inner])
            < 0.3 * np.linalg.norm(jittered[inner] - clean[inner]))


def test_compat_align_joint_returns_tomopy_senses_and_the_aligned_stack(scan):
    _, jittered, dx, dy = scan
    aligned, sx, sy, conv = compat.align_joint(jittered, THETA)
    assert np.polyfit(dy, sx, 1)[0] == pytest.approx(1.0, abs=0.1)  # sx along rows
    assert np.polyfit(dx, sy, 1)[0] == pytest.approx(1.0, abs=0.1)  # sy along columns
    # TomoPy's shift_images with (sx, sy) applies the same alignment to another stack
    again = compat.shift_images(jittered, sx, sy)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert np.abs(again[inner] - aligned[inner]).max() < 0.05 * np.abs(aligned).max()
    assert conv.ndim == 1 and conv[0] > conv[-1]


@pytest.mark.parametrize("method, kwargs", [(tda.align_pc, {"iters": 3}),
                                            (tda.align_reprojection, {"iters": 5})])
def test_baselines_remove_most_of_the_jitter_on_a_clean_scan(scan, method, kwargs):
    # measured: 4.1 px of jitter brought to 0.60 (phase correlation) and 0.64 px
    _, jittered, dx, dy = scan
    _, ex, ey = method(jittered, THETA, center=AXIS, **kwargs)
    assert residual_rmse(ex, ey, dx, dy) < 0.2 * residual_rmse(0 * dx, 0 * dy, dx, dy)


@pytest.mark.parametrize(
    "prj, theta, message",
    [
        (np.full((60, 48, 64), np.nan, np.float32), THETA, "NaN"),
        (np.zeros((60, 64), np.float32), THETA, "prj must be 3D"),
        (np.zeros((60, 48, 64), np.float32), THETA[:30], "theta has 30 angles"),
    ],
)
def test_bad_input_gives_clear_error(prj, theta, message):
    with pytest.raises(ValueError, match=message):
        tda.align(prj, theta)


def test_iters_must_be_positive(scan):
    with pytest.raises(ValueError, match="iters must be a positive integer"):
        tda.align(scan[1], THETA, iters=0)


@pytest.mark.long
def test_adapt_lowers_the_error_on_an_unseen_kind_of_sample():
    vol = simulate.shepp_logan(64, 48) * 0.05
    clean = tda.reproject(vol, THETA)
    jittered, dx, dy = tda.add_jitter(clean, -5, 5, seed=8)
    base = tda.load_model()
    _, ex0, ey0 = tda.align(jittered, THETA, model=base, polish=False)
    adapted = tda.adapt(jittered, THETA, model=base, n_sets=6, epochs=3, seed=0)
    _, ex1, ey1 = tda.align(jittered, THETA, model=adapted, polish=False)
    assert residual_rmse(ex1, ey1, dx, dy) < residual_rmse(ex0, ey0, dx, dy)


@pytest.mark.long
def test_adapt_never_ends_worse_than_its_starting_weights_on_a_noisy_scan():
    vol = simulate.phantom("nanoparticles", 64, 48, seed=5) * 0.05
    jittered, dx, dy = tda.add_jitter(tda.reproject(vol, THETA), -5, 5, seed=2)
    noisy = simulate.add_noise(jittered, "salt_pepper", 0.4, seed=3)
    base = tda.load_model()
    info = {}
    adapted = tda.adapt(noisy, THETA, center=AXIS, model=base, n_sets=4, epochs=2, seed=0,
                        info=info)
    assert info["noise"][0] == "salt_pepper" and abs(info["noise"][1] - 0.4) < 0.02
    assert {"start_mse", "adapted_mse", "kept"} <= set(info)
    _, ex0, ey0 = tda.align(noisy, THETA, center=AXIS, model=base)
    _, ex1, ey1 = tda.align(noisy, THETA, center=AXIS, model=adapted)
    assert (residual_rmse(ex1, ey1, dx, dy, theta=THETA)
            <= residual_rmse(ex0, ey0, dx, dy, theta=THETA) + 0.02)
    if info["kept"] == "start":
        assert adapted is base


def test_translating_the_sample_is_a_sinusoidal_jitter_that_the_rigid_residual_removes():
    # A sample moved by (2, -3) px in the slice plane projects to its original projections
    # shifted by tx cos(theta) + ty sin(theta): no alignment can tell it from jitter.
    from scipy.ndimage import shift as nd_shift

    from tomopy_dlalign.prep.registration import phase_correlation

    vol = simulate.phantom("nanoparticles", 64, 8, seed=3) * 0.05
    moved = nd_shift(vol, (0, 2, -3), order=1)
    ex, ey = phase_correlation(tda.reproject(moved, THETA), tda.reproject(vol, THETA))
    zero = np.zeros_like(ex)
    assert residual_rmse(ex, ey, zero, zero) > 1.5                  # a large apparent jitter
    assert residual_rmse(ex, ey, zero, zero, theta=THETA) < 0.15    # all of it rigid motion


def test_rigid_residual_keeps_jitter_that_is_not_a_translation():
    rng = np.random.default_rng(0)
    dx, dy = rng.uniform(-5, 5, (2, THETA.size))
    rigid = 1.0 + 2 * np.cos(THETA) - 0.5 * np.sin(THETA)
    assert residual_rmse(dx + rigid, dy + 4, dx, dy, theta=THETA) < 1e-9
    free = residual_rmse(dx, dy, 0 * dx, 0 * dy, theta=THETA)
    assert 0.8 * residual_rmse(dx, dy, 0 * dx, 0 * dy) < free


def test_polish_on_a_binned_stack_still_reaches_sub_pixel(scan):
    _, jittered, dx, dy = scan
    _, ex, ey = tda.align(jittered, THETA, center=AXIS, polish_size=32)  # binned to 32 px
    assert residual_rmse(ex, ey, dx, dy) < 1.0


def test_bad_polish_arguments_are_named(scan):
    _, jittered, _, _ = scan
    with pytest.raises(ValueError, match="polish_size"):
        tda.align(jittered, THETA, polish_size=4)
    with pytest.raises(ValueError, match="polish"):
        tda.align(jittered, THETA, polish=-1)


def test_polish_corrects_angles_the_network_left_pixels_off(scan, monkeypatch):
    """A projection the coarse step leaves 3 px off (an angle the network mistook at a
    large shift, a frame with a corrupted segment) is brought back by the polish, which
    keeps a correction beyond its sub-pixel range when it improves that projection's fit
    to the reference."""
    import tomopy_dlalign.prep.alignment as alignment

    _, jittered, dx, dy = scan
    bad = np.array([5, 17, 33, 48])
    real = alignment.predict

    def mistaken(*args, **kwargs):
        ex, ey = real(*args, **kwargs)
        ex, ey = ex.copy(), ey.copy()
        ex[bad] += 3.0
        ey[bad] -= 2.5
        return ex, ey

    monkeypatch.setattr(alignment, "predict", mistaken)
    info = AlignInfo()
    _, ex, ey = tda.align(jittered, THETA, center=AXIS, info=info)
    coarse_dx, coarse_dy = info.history[0]
    assert np.hypot(coarse_dx - dx, coarse_dy - dy)[bad].min() > 3.0   # the coarse step is off
    off = np.hypot(ex - dx, ey - ey.mean() - dy + dy.mean())
    assert off[bad].max() < 0.5
    assert residual_rmse(ex, ey, dx, dy) < 0.3
