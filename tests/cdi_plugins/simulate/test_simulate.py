"""Simulated objects and patterns: oversampling, photons, masks, binning, Friedel fill."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import simulate


@pytest.mark.parametrize("make", [simulate.biological_object, simulate.crystal_object])
def test_objects_are_oversampled_at_least_twice_per_axis(make):
    for seed in range(4):
        obj = make(64, seed=seed)
        assert obj.dtype == np.complex64
        assert min(simulate.oversampling_ratio(obj)) >= 2


def test_biological_object_is_elongated_real_and_positive():
    obj = simulate.biological_object(128, seed=3)
    assert not obj.imag.any() and (obj.real >= 0).all()
    ys, xs = np.nonzero(np.abs(obj))
    cov = np.cov(np.stack([ys, xs]))
    ev = np.linalg.eigvalsh(cov)
    assert ev[1] / ev[0] > 2.5  # aspect 0.5: variance ratio about 4


def test_crystal_object_has_a_strong_phase():
    obj = simulate.crystal_object(64, n_particles=4, seed=0)
    inside = np.abs(obj) > 0.5
    assert np.ptp(np.angle(obj[inside])) > 2.0


def test_photon_budget_and_poisson_noise():
    obj = simulate.biological_object(64, seed=0)
    a = simulate.simulate_pattern(obj, photons=1e5, seed=0)
    b = simulate.simulate_pattern(obj, photons=1e5, seed=0)
    c = simulate.simulate_pattern(obj, photons=1e5, seed=1)
    assert a.intensity.sum() == pytest.approx(1e5, rel=0.02)
    assert np.array_equal(a.intensity, np.round(a.intensity))  # counts
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert not np.array_equal(a.intensity, c.intensity)


def test_beamstop_and_gaps_are_marked_missing_and_zero():
    sim = simulate.simulate_pattern(simulate.biological_object(64, seed=0), photons=None,
                                    beamstop=3, gaps=2)
    assert sim.mask[32, 32] and sim.mask[32 + 64 // 6, 5] and sim.mask[5, 32 - 64 // 5]
    assert (sim.intensity[sim.mask] == 0).all()
    expected = simulate.beamstop_mask((64, 64), 3) | simulate.gap_mask((64, 64), 2)
    np.testing.assert_array_equal(sim.mask, expected)


def test_binning_sums_counts_and_crops_the_truth():
    obj = simulate.biological_object(128, extent=0.2, seed=0)
    full = simulate.simulate_pattern(obj, photons=None)
    binned = simulate.simulate_pattern(obj, photons=None, binning=2)
    assert binned.intensity.shape == (64, 64) and binned.object.shape == (64, 64)
    assert binned.intensity.sum() == pytest.approx(full.intensity.sum(), rel=1e-5)
    I, m = simulate.bin_pattern(np.ones((4, 4)), np.eye(4, dtype=bool), 2)
    np.testing.assert_array_equal(m, [[True, False], [False, True]])
    with pytest.raises(ValueError, match="not divisible"):
        simulate.bin_pattern(np.ones((6, 6)), factor=4)


def test_centrosymmetric_fill_restores_a_real_objects_pattern():
    obj = simulate.biological_object(64, seed=0)
    truth = simulate.diffraction(obj)
    mask = simulate.gap_mask((64, 64), 2)
    filled, left = simulate.centrosymmetric_fill(np.where(mask, 0, truth), mask)
    assert left.sum() < mask.sum() / 10  # only crossings with mates in gaps remain
    np.testing.assert_allclose(filled[~left], truth[~left], rtol=1e-4, atol=1e-7)


def test_bad_simulation_arguments_are_rejected():
    with pytest.raises(ValueError, match="extent"):
        simulate.biological_object(64, extent=0.8)
    with pytest.raises(ValueError, match="shape"):
        simulate.crystal_object(63)
    with pytest.raises(ValueError, match="photons"):
        simulate.simulate_pattern(simulate.biological_object(64, seed=0), photons=-1)
