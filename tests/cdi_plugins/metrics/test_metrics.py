"""Metrics against hand-computed small cases and known curves."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import metrics, simulate


def _pattern(obj):
    return simulate.diffraction(obj).astype(np.float64)


def test_chi2_matches_hand_computation_on_a_two_pixel_case():
    # I = [4, 1, 0, 0...]-like: compare one object's modulus to a chosen "measured" modulus
    obj = np.zeros((8, 8), complex)
    obj[4, 4] = 1.0  # unitary FFT of a delta: |F| = 1/8 everywhere
    intensity = np.full((8, 8), (2 / 8) ** 2)  # measured modulus 2/8 everywhere
    # sum (1/8 - 2/8)^2 / sum (2/8)^2 = 1/4
    assert metrics.chi2(obj, intensity)[0] == pytest.approx(0.25)
    mask = np.zeros((8, 8), bool)
    mask[:4] = True  # half the pixels missing: the ratio is unchanged
    assert metrics.chi2(obj, intensity, mask)[0] == pytest.approx(0.25)


def test_translation_twin_and_global_phase_are_undone(rng):
    ref = np.zeros((32, 32), complex)
    ref[10:20, 12:18] = rng.random((10, 6)) * np.exp(1j * rng.random((10, 6)))
    moved = np.exp(-0.7j) * np.roll(metrics.twin(ref), (3, -5), axis=(0, 1))
    aligned, al = metrics.align_to(ref, moved)
    assert al.twin
    np.testing.assert_allclose(aligned, ref, atol=1e-5)
    assert al.correlation == pytest.approx(1.0)
    assert metrics.translation(ref, np.roll(ref, (3, -5), axis=(0, 1))) == (-3, 5)
    assert metrics.global_phase(ref, ref * np.exp(0.4j)) == pytest.approx(-0.4)


def test_twin_is_an_involution_with_the_same_pattern(rng):
    o = np.zeros((16, 16), complex)
    o[5:9, 4:11] = rng.random((4, 7)) + 1j * rng.random((4, 7))
    np.testing.assert_allclose(metrics.twin(metrics.twin(o)), o)
    np.testing.assert_allclose(_pattern(metrics.twin(o)), _pattern(o), rtol=1e-4, atol=1e-6)


def test_real_space_error_of_a_known_perturbation():
    t = np.zeros((16, 16), complex)
    t[4:12, 4:12] = 1.0
    noisy = t.copy()
    noisy[4, 4] = 2.0  # one pixel off by 1: |d| / |t| = 1 / 8 before the LS rescale
    err = metrics.real_space_error(noisy, t)
    g = np.vdot(noisy, t) / np.vdot(noisy, noisy)
    assert err == pytest.approx(np.linalg.norm(g * noisy - t) / 8.0)
    assert 0 < err < 1 / 8


def test_prtf_of_identical_runs_is_one_where_there_is_signal(rng):
    o = np.zeros((32, 32), complex)
    o[10:22, 12:20] = rng.random((12, 8)) * np.exp(1j * rng.random((12, 8)))
    intensity = _pattern(o)
    runs = np.stack([o, np.roll(o, (2, 1), axis=(0, 1)), np.exp(1.1j) * metrics.twin(o)])
    q, curve = metrics.prtf(runs, intensity)
    assert q[0] == 0 and q[1] == pytest.approx(1 / 32)
    np.testing.assert_allclose(curve[np.isfinite(curve)], 1.0, atol=1e-4)
    # runs that disagree lower it
    other = np.zeros_like(o)
    other[10:22, 12:20] = rng.random((12, 8))
    _, worse = metrics.prtf(np.stack([o, other]), intensity)
    assert np.nanmean(worse[1:]) < 0.9


def test_prtf_excludes_masked_pixels():
    o = np.zeros((16, 16), complex)
    o[6:10, 5:11] = 1.0
    intensity = _pattern(o)
    garbage = intensity.copy()
    mask = simulate.beamstop_mask((16, 16), 2)
    garbage[mask] = 1e6
    np.testing.assert_allclose(metrics.prtf(o, garbage, mask)[1][3:],
                               metrics.prtf(o, intensity, mask)[1][3:])


def test_resolution_is_found_where_a_synthetic_curve_crosses():
    q = np.arange(33) / 64
    curve = np.exp(-q / 0.2)  # crosses 1/e at q = 0.2 exactly
    r = metrics.resolution(q, curve)
    assert r.q == pytest.approx(0.2, abs=2e-3)
    assert r.pixels == pytest.approx(5.0, rel=1e-2)
    assert r.crossed
    nm = metrics.resolution(q, curve, pixel_size=10.0)
    assert nm.length == pytest.approx(50.0, rel=1e-2)
    assert "nm" in str(nm)


def test_resolution_of_a_curve_that_never_crosses_is_flagged_at_the_edge():
    q = np.linspace(0, 0.5, 11)
    r = metrics.resolution(q, np.ones(11))
    assert not r.crossed and r.q == 0.5


def test_noise_level_and_wiener_filter_on_a_known_plateau(rng):
    h = w = 64
    y, x = np.mgrid[:h, :w] - 32
    signal = 1e4 * np.exp(-(x**2 + y**2) / (2 * 4.0**2))
    intensity = rng.poisson(signal + 3.0).astype(float)  # flat noise floor of 3
    assert metrics.noise_level(intensity) == pytest.approx(3.0, rel=0.1)
    q, wf = metrics.wiener_filter(intensity)
    assert wf[1] > 0.99 and wf[q > 0.4].mean() < 0.1
    q2, wf2 = metrics.wiener_filter(np.full((16, 16), 5.0), noise=1.0)
    np.testing.assert_allclose(wf2, 0.8)


def test_wiener_weighted_prtf_is_the_prtf_times_the_filter(rng):
    o = np.zeros((32, 32), complex)
    o[12:20, 10:22] = 1.0
    intensity = _pattern(o) + 0.01
    q, plain = metrics.prtf(o, intensity)
    _, weighted = metrics.prtf(o, intensity, wiener=True, noise=0.01)
    _, wf = metrics.wiener_filter(intensity, noise=0.01)
    np.testing.assert_allclose(weighted, plain * wf)


def test_amplitude_variance_is_zero_for_identical_runs_and_positive_otherwise(rng):
    o = np.zeros((16, 16), complex)
    o[5:11, 6:10] = 1
    q, v = metrics.amplitude_variance(np.stack([o, np.roll(o, 2, axis=0)]))
    assert np.nanmax(v) < 1e-10
    p = o.copy()
    p[7, 7] = 3
    _, v2 = metrics.amplitude_variance(np.stack([o, p]))
    assert np.nanmin(v2[1:]) > 0


def test_shell_correlation_hand_case():
    a = np.zeros((8, 8))
    b = np.zeros((8, 8))
    idx, _ = metrics.shell_index((8, 8))
    shell = idx == 2
    vals = np.arange(shell.sum(), dtype=float)
    a[shell] = vals
    b[shell] = -vals  # perfectly anti-correlated in shell 2
    _, cc = metrics.shell_correlation(a, b)
    assert cc[2] == pytest.approx(-1.0)
    b[shell] = 3 * vals + 2
    assert metrics.shell_correlation(a, b)[1][2] == pytest.approx(1.0)


def test_frc_of_independent_noise_is_near_zero_and_of_copies_is_one(rng):
    a = rng.standard_normal((64, 64)) + 0j
    b = rng.standard_normal((64, 64)) + 0j
    q, c = metrics.frc(a, b)
    assert np.abs(c[5:30]).mean() < 0.1
    np.testing.assert_allclose(metrics.frc(a, 2 * a)[1], 1.0)


def test_halfset_frc_needs_two_runs_and_is_one_for_identical_runs():
    o = np.zeros((16, 16), complex)
    o[4:10, 6:12] = 1 + np.arange(6)
    q, c = metrics.halfset_frc(np.stack([o] * 4), seed=0)
    np.testing.assert_allclose(c[np.isfinite(c)], 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.halfset_frc(o)


def test_real_space_pixel_size_in_nm():
    # 8 keV (1.55 A), 5 m, 75 um pixels, 512 pixels -> 20.2 nm
    px = metrics.real_space_pixel_size(1.5498e-10, 5.0, 75e-6, 512)
    assert px * 1e9 == pytest.approx(20.18, rel=1e-3)
    with pytest.raises(ValueError, match="distance"):
        metrics.real_space_pixel_size(1e-10, 0, 75e-6, 512)


def test_metric_inputs_are_validated():
    with pytest.raises(ValueError, match="mask must have shape"):
        metrics.prtf(np.ones((8, 8)), np.ones((8, 8)), mask=np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="same length"):
        metrics.resolution(np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.chi2(np.ones((8, 8)), -np.ones((8, 8)))


def test_subpixel_alignment_removes_a_fractional_translation():
    from scipy import ndimage

    from cdi_plugins.metrics import align_to, real_space_error

    rng = np.random.default_rng(3)
    t = np.zeros((64, 64), complex)
    t[20:40, 25:38] = rng.random((20, 13)) + 0.3j
    t = ndimage.gaussian_filter(t.real, 1) + 1j * ndimage.gaussian_filter(t.imag, 1)
    ky, kx = np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :]
    moved = np.fft.ifft2(np.fft.fft2(t) * np.exp(-2j * np.pi * (3.4 * ky - 2.3 * kx)))
    moved = 1j * moved
    assert real_space_error(moved, t) > 0.05            # whole pixels leave 0.4 px
    assert real_space_error(moved, t, subpixel=20) < 1e-3
    _, al = align_to(t, moved, subpixel=20)
    np.testing.assert_allclose(al.shift, (-3.4, 2.3), atol=0.05)
