"""Metrics of 3D reconstructions: alignment (sub-pixel translation, the twin as the
conjugate flip over all three axes, global phase), PRTF and FSC over spherical shells,
likelihoods and Friedel's law on 3D counts, and a (D, H, W) object never read as D 2D
runs."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import metrics, simulate
from cdi_plugins.metrics.fourier import as_objects
from cdi_plugins.physics import farfield, inverse_farfield


@pytest.fixture(scope="module")
def truth():
    return simulate.crystal_object_3d(32, seed=2)


def _fourier_shift(obj: np.ndarray, shift) -> np.ndarray:
    """``obj`` translated by ``shift`` voxels (sub-voxel: a Fourier phase ramp)."""
    ramp = sum(np.fft.fftfreq(n).reshape([-1 if a == axis else 1 for a in range(3)]) * s
               for axis, (n, s) in enumerate(zip(obj.shape, shift, strict=True)))
    return np.fft.ifftn(np.fft.fftn(obj) * np.exp(-2j * np.pi * ramp))


def _phase_noisy_runs(obj: np.ndarray, n: int, sigma_edge: float, seed: int) -> np.ndarray:
    """Runs with the object's Fourier modulus and its phases off by Gaussian errors whose
    spread grows linearly with ``q``, ``sigma_edge`` radians at ``q = 0.5``."""
    rng = np.random.default_rng(seed)
    field = farfield(obj, ndim=3)
    idx, q = metrics.shell_index(obj.shape)
    sigma = sigma_edge * q[idx] / 0.5
    runs = [inverse_farfield(field * np.exp(1j * sigma * rng.standard_normal(obj.shape)),
                             ndim=3) for _ in range(n)]
    return np.stack(runs).astype(np.complex64)


def test_the_3d_twin_is_the_conjugate_flip_over_all_three_axes():
    v = np.zeros((8, 8, 8), complex)
    v[1, 2, 3] = 2 + 1j
    t = metrics.twin(v, ndim=3)
    assert t[7, 6, 5] == 2 - 1j and np.count_nonzero(t) == 1
    np.testing.assert_array_equal(metrics.twin(t, ndim=3), v)
    # same pattern, as a twin must have
    np.testing.assert_allclose(np.abs(farfield(t, ndim=3)), np.abs(farfield(v, ndim=3)),
                               atol=1e-12)


def test_alignment_removes_a_known_3d_flip_subpixel_shift_and_phase(truth):
    shift = (1.25, -2.5, 0.75)
    moved = np.exp(0.7j) * _fourier_shift(metrics.twin(truth, ndim=3), shift)
    aligned, al = metrics.align_to(truth, moved, subpixel=20)
    assert al.twin
    assert len(al.shift) == 3 and al.correlation > 0.999
    np.testing.assert_allclose(np.linalg.norm(aligned - truth) / np.linalg.norm(truth), 0,
                               atol=1e-3)
    assert metrics.real_space_error(moved, truth, subpixel=20) < 1e-3
    # to the nearest voxel only, the half-voxel left over is a large error
    assert metrics.real_space_error(moved, truth) > 0.1


def test_the_whole_voxel_translation_of_a_3d_object_is_found(truth):
    moved = np.roll(truth, (2, -3, 1), axis=(0, 1, 2))
    assert metrics.translation(truth, moved) == (-2, 3, -1)
    runs = np.stack([truth, moved, 1j * metrics.twin(truth, ndim=3)])
    np.testing.assert_allclose(metrics.align_runs(runs), np.stack([truth] * 3), atol=1e-6)


def test_3d_shells_are_spheres_one_voxel_wide():
    idx, q = metrics.shell_index((16, 16, 16))
    assert idx[8, 8, 8] == 0 and idx[8, 8, 12] == 4 and idx[12, 12, 12] == 7   # 4 sqrt(3)
    assert q[4] == 0.25 and len(q) == idx.max() + 1
    assert (idx[8] == metrics.shell_index((16, 16))[0]).all()   # the central section


def test_3d_prtf_is_one_for_identical_runs_and_drops_for_noisy_ones(truth):
    intensity = simulate.diffraction(truth)
    same = np.stack([truth, np.roll(truth, 3, axis=1), -1j * metrics.twin(truth, ndim=3)])
    q, curve = metrics.prtf(same, intensity)
    assert q[-1] == 0.5 and len(q) == 17
    np.testing.assert_allclose(curve, 1, atol=1e-5)
    noisy = _phase_noisy_runs(truth, 8, sigma_edge=2.5, seed=0)
    q, curve = metrics.prtf(noisy, intensity, align=False)
    assert curve[1] > 0.95                 # exp(-sigma^2 / 2), sigma = 0.16 rad
    assert curve[-1] < metrics.INV_E       # sigma = 2.5 rad: 8 runs average to noise
    r = metrics.resolution(q, curve)
    assert r.crossed and 0.2 < r.q < 0.45


def test_3d_fsc_is_one_for_identical_objects_and_drops_with_noise(truth):
    q, c = metrics.fsc(truth, truth)
    np.testing.assert_allclose(c, 1)
    rng = np.random.default_rng(0)
    noise = 0.3 * (rng.standard_normal(truth.shape) + 1j * rng.standard_normal(truth.shape))
    q, c = metrics.fsc(truth, truth + noise)
    assert c[1] > 0.99 and c[-1] < 0.5
    runs = _phase_noisy_runs(truth, 8, sigma_edge=2.5, seed=1)
    q, half = metrics.halfset_frc(runs, seed=0)      # a 4D stack: 3D runs
    assert len(q) == len(metrics.shell_index(truth.shape)[1])
    assert half[1] > 0.95 and half[len(q) // 2:].min() < 0.5


def test_3d_likelihoods_chi2_and_friedel_law_on_counts(truth):
    rng = np.random.default_rng(0)
    lam = simulate.diffraction(truth) * (1e8 / simulate.diffraction(truth).sum())
    counts = rng.poisson(lam).astype(np.float32)
    assert metrics.chi2(truth * np.sqrt(1e8 / (np.abs(truth) ** 2).sum()), lam)[0] < 1e-10
    llk = metrics.log_likelihood(truth * np.sqrt(1e8 / (np.abs(truth) ** 2).sum()), counts)
    assert 0.5 < llk[0] < 1.5           # about 1 per pixel for a fit to the noise
    assert not metrics.friedel_test(counts).symmetric        # a complex (strained) crystal
    real = rng.poisson(simulate.diffraction(np.abs(truth)) * 1e8
                       / simulate.diffraction(np.abs(truth)).sum()).astype(np.float32)
    assert metrics.friedel_test(real).symmetric               # its real modulus
    free = metrics.free_pixels((32, 32, 32), seed=0)
    assert 0.03 < free.mean() < 0.07 and not free[16, 16, 16]
    var_q, var = metrics.amplitude_variance(np.stack([truth, truth]), mask=np.zeros(lam.shape))
    assert np.nanmax(var) < 1e-10 and var_q[-1] == 28 / 32   # to the corner, sqrt(3) / 2


def test_a_3d_object_is_not_read_as_a_stack_of_2d_runs(truth):
    intensity = simulate.diffraction(truth)
    assert as_objects(truth, ndim=3).shape == (1, 32, 32, 32)
    assert as_objects(truth).shape == (32, 32, 32)                  # no ndim: 2D runs
    assert as_objects(np.stack([truth] * 2)).shape == (2, 32, 32, 32)
    q, curve = metrics.prtf(truth, intensity)                         # one 3D object
    np.testing.assert_allclose(curve, 1, atol=1e-5)
    aligned = metrics.align_runs(np.stack([truth, truth]), reference=truth)
    assert aligned.shape == (2, 32, 32, 32)


def test_metrics_refuse_shapes_that_are_neither_2d_nor_3d_naming_the_argument(truth):
    four = np.ones((2, 8, 8, 8), np.complex64)
    with pytest.raises(ValueError, match=r"ref must be 2D or 3D, got shape \(2, 8, 8, 8\)"):
        metrics.align_to(four, four)
    with pytest.raises(ValueError, match=r"intensity must be 2D or 3D, got shape \(64,\)"):
        metrics.prtf(np.ones((1, 64)), np.ones(64))
    # with a 3D pattern a 3D array is one object, not two 2D runs
    with pytest.raises(ValueError, match=r"objects have shape \(2, 8, 8\), intensity "
                                         r"\(8, 8, 8\)"):
        metrics.prtf(np.ones((2, 8, 8)), np.ones((8, 8, 8)))
    with pytest.raises(ValueError, match="ref and obj must have the same shape"):
        metrics.align_to(truth, truth[0])
    with pytest.raises(ValueError, match=r"a must be 2D or 3D"):
        metrics.fsc(four, four)
