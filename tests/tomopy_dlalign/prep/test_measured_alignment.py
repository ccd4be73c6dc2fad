"""Alignment on what measured scans carry: detector content, defects moving with the data,
impulsive noise, large jitter, iterations, and a self-check that never hands back a
worse stack silently. Every score is against the drawn jitter, rigid motion removed."""

import logging

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep import AlignInfo, residual_rmse, residuals
from tomopy_dlalign.prep.conditioning import registration_view

THETA = np.linspace(0, np.pi, 90, endpoint=False)


def _jittered(family="cells", size=96, rows=64, jitter=8.0, seed=3, theta=THETA):
    vol = simulate.phantom(family, size, rows, seed=seed) * 0.05
    prj = tda.reproject(vol, theta)
    rng = np.random.default_rng(seed)
    dx = rng.uniform(-jitter, jitter, theta.size)
    dy = rng.uniform(-jitter, jitter, theta.size)
    return tda.shift(prj, dx, dy), dx, dy


def test_fixed_stripes_on_the_detector_do_not_bias_the_shifts():
    prj, dx, dy = _jittered()
    peak = float(prj.max())
    striped = prj.copy()
    striped[:, :, [20, 21, 57]] += 0.4 * peak      # gain errors: the same in every frame
    striped[:, 30, :] += 0.2 * peak                # a fixed horizontal band
    _, ex, ey = tda.align(striped, THETA, center=48.0)
    assert residual_rmse(ex, ey, dx, dy, theta=THETA) < 0.3
    # a pull toward zero shift would show as a regression slope below 1
    assert np.polyfit(dx, ex, 1)[0] == pytest.approx(1.0, abs=0.03)
    assert np.polyfit(dy, ey, 1)[0] == pytest.approx(1.0, abs=0.03)


def test_the_registration_view_takes_out_what_is_fixed_on_the_detector():
    prj, _, _ = _jittered(rows=32)
    striped = prj.copy()
    striped[:, :, 40] += 1.0
    view, notes = registration_view(striped)
    plain, _ = registration_view(prj)
    # the stripe's sharp part is gone from the view (what is left is its 2-pixel blur)
    assert np.abs(view[:, :, 40] - plain[:, :, 40]).mean() < 0.35
    assert notes["fixed_rms"] > 0


def test_a_dead_pixel_moving_with_the_sample_does_not_decide_the_alignment():
    prj, dx, dy = _jittered(seed=5)
    clean = tda.shift(prj, -dx, -dy)
    clean[:, 0, 0] = 13.8           # a dead pixel's line integral, then the motion
    moved = tda.shift(clean, dx, dy)   # edge fill smears it into a block
    _, ex, ey = tda.align(moved, THETA, center=48.0)
    assert residual_rmse(ex, ey, dx, dy, theta=THETA) < 0.3


def test_auto_centre_of_a_noisy_jittered_phantom_is_within_half_a_pixel():
    prj, dx, _ = _jittered(size=128, jitter=10.0, seed=7)
    noisy = simulate.add_noise(prj, "salt_pepper", 0.4, seed=7)
    # the axis the projections define: the true one plus the constant of the jitter's
    # fit by 1, cos, sin (indistinguishable from an axis offset)
    basis = np.stack([np.ones_like(THETA), np.cos(THETA), np.sin(THETA)], axis=1)
    defined = 64.0 + np.linalg.lstsq(basis, dx, rcond=None)[0][0]
    assert abs(tda.find_center(noisy, THETA) - defined) < 0.5


def test_align_with_auto_centre_handles_forty_percent_salt_and_pepper():
    prj, dx, dy = _jittered(size=128, jitter=10.0, seed=7)
    noisy = simulate.add_noise(prj, "salt_pepper", 0.4, seed=7)
    info = AlignInfo()
    _, ex, ey = tda.align(noisy, THETA, info=info)
    assert residual_rmse(ex, ey, dx, dy, theta=THETA) < 0.6
    assert info.conditioning["impulsive"]
    assert info.verdict is not None and info.verdict.improved


@pytest.mark.parametrize("rows,seed", [(64, 1), pytest.param(64, 2, marks=pytest.mark.long),
                                       pytest.param(32, 3, marks=pytest.mark.long)])
def test_errors_against_the_truth_do_not_rise_with_iters(rows, seed):
    prj, dx, dy = _jittered(rows=rows, jitter=8.0, seed=seed)
    errs = []
    for k in (1, 2, 3):
        _, ex, ey = tda.align(prj, THETA, center=48.0, iters=k)
        errs.append(residual_rmse(ex, ey, dx, dy, theta=THETA))
    assert errs[1] <= errs[0] + 0.01 and errs[2] <= errs[1] + 0.01, errs
    # and no vertical under-correction: dy comes back at full scale
    _, ey3 = tda.align(prj, THETA, center=48.0, iters=3)[1:]
    if rows >= 32:
        assert np.polyfit(dy, ey3, 1)[0] == pytest.approx(1.0, abs=0.02)


@pytest.mark.long
def test_twenty_percent_of_the_width_is_captured():
    theta = np.linspace(0, np.pi, 120, endpoint=False)
    prj, dx, dy = _jittered(size=128, rows=64, jitter=24.0, seed=9, theta=theta)
    info = AlignInfo()
    _, ex, ey = tda.align(prj, theta, center=64.0, info=info)
    rx, ry = residuals(ex, ey, dx, dy, theta=theta)
    assert residual_rmse(ex, ey, dx, dy, theta=theta) < 0.5
    assert np.hypot(rx, ry).max() < 2.0          # every projection captured
    assert info.capture


def test_self_check_warns_and_returns_the_input_for_pure_noise(caplog):
    noise = np.random.default_rng(0).normal(1.0, 0.3, (90, 48, 64)).astype(np.float32)
    info = AlignInfo()
    with caplog.at_level(logging.WARNING):
        aligned, ex, ey = tda.align(noise, THETA, center=32.0, info=info)
    assert info.warning is not None and not info.verdict.improved
    assert "could not show" in caplog.text
    assert not ex.any() and not ey.any()
    np.testing.assert_array_equal(aligned, noise)


def test_self_check_returns_the_input_for_an_aligned_periodic_object():
    # a periodic object (a grating) that is already aligned: any shift by a period looks
    # as consistent, nothing can improve it
    cols = np.arange(64)
    row = 1.0 + 0.5 * np.cos(2 * np.pi * cols / 8)
    prj = np.broadcast_to(row, (90, 48, 64)).astype(np.float32).copy()
    info = AlignInfo()
    aligned, ex, ey = tda.align(prj, THETA, center=32.0, info=info)
    assert info.warning is not None
    np.testing.assert_array_equal(aligned, prj)


def test_self_check_passes_a_real_improvement_and_records_both_measures():
    prj, dx, dy = _jittered(rows=32, seed=4)
    info = AlignInfo()
    tda.align(prj, THETA, center=48.0, info=info)
    v = info.verdict
    assert v.improved and info.warning is None
    assert v.consistency_after < v.consistency_before
    assert v.sharpness_after > v.sharpness_before
    assert set(v.to_record()) >= {"consistency_before", "consistency_after", "improved"}


def _noise_file(path):
    noise = np.random.default_rng(1).normal(1.0, 0.3, (90, 40, 64)).astype(np.float32)
    tda.io.write_dx(path, noise, theta=THETA, data_units="1/pixel", state="line_integrals")
    return noise


def test_cli_align_records_the_failed_self_check_in_process_and_the_report(tmp_path):
    from tomopy_dlalign import cli
    from tomopy_dlalign.common.process import read_process

    src = tmp_path / "noise.h5"
    noise = _noise_file(src)
    out, report = tmp_path / "aligned.h5", tmp_path / "qa"
    assert cli.main(["align", str(src), "-o", str(out), "--center", "32",
                     "--report", str(report), "--no-progress"]) == 0
    params = read_process(out).step("align").parameters
    assert params["warning"].startswith("alignment could not show")
    assert params["self_check"]["improved"] is False
    np.testing.assert_array_equal(tda.io.read(out).data, noise)   # the input, returned
    assert (report / "shifts.png").stat().st_size > 0


def test_align_many_summary_says_not_improved_with_the_warning(tmp_path):
    src = tmp_path / "noise.h5"
    _noise_file(src)
    results = tda.align_many([src], tmp_path / "out", center=32.0, show_progress=False)
    assert results[0].status == "done" and results[0].check == "NOT improved"
    table = tda.scale.summary_table(results)
    assert "NOT improved" in table and "warning: noise.h5: alignment could not show" in table


def test_vertical_shifts_a_layer_period_off_are_caught_by_the_row_profiles(caplog):
    """A layered slab (``battery``, 32 rows) with vertical jitter of a third of its rows:
    the network and the polish settle a layer period off, which reprojection consistency
    accepts. The row profiles of the measured stack, the same at every angle for an
    object inside the field of view, do not: the check takes the slice-mass capture's dy
    and says so."""
    theta = np.linspace(0, np.pi, 181, endpoint=False)
    vol = simulate.phantom("battery", 128, 32, seed=0) * 0.05
    prj, dx, dy = tda.add_jitter(tda.reproject(vol, theta), -10, 10, seed=3)
    info = AlignInfo()
    with caplog.at_level(logging.WARNING):
        _, ex, ey = tda.align(prj, theta, center=64.0, info=info)
    assert info.vertical["chosen"] == "capture"
    assert "row profiles" in info.warning and "row profiles" in caplog.text
    assert info.to_record()["vertical_check"]["chosen"] == "capture"
    uncorrected = residual_rmse(0 * dx, 0 * dy, dx, dy, theta=theta)
    assert residual_rmse(ex, ey, dx, dy, theta=theta) < 0.2 * uncorrected
    assert np.std(ey - ey.mean() - dy + dy.mean()) < 0.5
