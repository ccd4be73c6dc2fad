"""Counting statistics: the Poisson floor of the amplitude misfit, Friedel's law."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import metrics, simulate
from cdi_plugins.metrics import noise


@pytest.mark.parametrize("lam", [0.05, 0.7, 3.0, 40.0, 5e3])
def test_expected_sqrt_misfit_matches_poisson_draws(lam):
    k = np.random.default_rng(0).poisson(lam, 400_000)
    drawn = np.mean((np.sqrt(k) - np.sqrt(lam)) ** 2)
    assert noise.expected_sqrt_misfit(np.array([lam]))[0] == pytest.approx(drawn, rel=0.02)


def test_a_model_that_made_the_counts_scores_one_noise_floor():
    obj = simulate.biological_object(64, seed=3)
    lam = simulate.diffraction(obj) * (1e6 / simulate.diffraction(obj).sum())
    counts = np.random.default_rng(1).poisson(lam).astype(np.float32)
    model_obj = obj * np.sqrt(1e6 / simulate.diffraction(obj).sum())
    every = np.ones(lam.shape, bool)
    llk = metrics.log_likelihood(model_obj, counts, noise="euclidean")[0]
    assert llk / metrics.euclidean_floor(lam, every) == pytest.approx(1.0, abs=0.05)
    # the same model 20 % too bright is many floors off (4 x 0.2^2 x 244 counts per pixel)
    wrong = metrics.log_likelihood(1.2 * model_obj, counts, noise="euclidean")[0]
    assert wrong / metrics.euclidean_floor(lam, every) > 10


def test_is_counts_tells_whole_numbers_from_scaled_intensities():
    counts = np.random.default_rng(0).poisson(5.0, (16, 16)).astype(np.float32)
    assert metrics.is_counts(counts)
    assert not metrics.is_counts(counts * 0.37)
    assert not metrics.is_counts(np.zeros((4, 4)))


def test_friedel_test_passes_real_objects_and_flags_complex_ones():
    bio = simulate.simulate_pattern(simulate.biological_object(64, seed=0), 1e6, beamstop=2,
                                    gaps=2, seed=0)
    xtal = simulate.simulate_pattern(simulate.crystal_object(64, seed=0), 1e6, beamstop=2,
                                     gaps=2, seed=0)
    sym = metrics.friedel_test(bio.intensity, bio.mask)
    asym = metrics.friedel_test(xtal.intensity, xtal.mask)
    assert sym.symmetric and abs(sym.statistic - 1) < 0.15 and sym.n_pairs > 500
    assert not asym.symmetric and asym.statistic > 5 and asym.z > 100


def test_friedel_test_refuses_intensities_that_are_not_counts():
    with pytest.raises(ValueError, match="photon counts"):
        metrics.friedel_test(np.full((8, 8), 0.5))
