"""Shrink-wrap rules, free log-likelihood ranking, the default schedule's updates."""

from __future__ import annotations

import numpy as np
import torch

import cdi_plugins as cdi
from cdi_plugins import metrics
from cdi_plugins.phasing.algorithms import parse_schedule
from cdi_plugins.phasing.constraints import Constraints, Measurement
from cdi_plugins.physics import farfield


def _ops_with_bright_spot():
    obj = np.zeros((64, 64), np.complex64)
    obj[22:42, 24:40] = 1.0
    obj[30, 30] = 60.0  # a hot spot, brighter than the whole object's level
    intensity = (np.abs(farfield(obj)) ** 2).astype(np.float32)
    data = Measurement(intensity, np.zeros((64, 64), bool), torch.device("cpu"))
    loose = cdi.phasing.centred_box((64, 64))[None]
    ops = Constraints(data, loose, loose, "none")
    return ops, torch.from_numpy(obj[None]), np.abs(obj) > 0


def test_rms_rule_keeps_a_support_with_a_bright_spot_that_the_max_rule_loses():
    ops, est, true = _ops_with_bright_spot()
    cdi.ShrinkWrap(method="max", threshold=0.2, max_shrink=1.0).update(ops, est, 1.0)
    kept_max = (ops.support[0].numpy() & true).sum() / true.sum()
    ops, est, true = _ops_with_bright_spot()
    cdi.ShrinkWrap().update(ops, est, 1.0)
    kept_rms = (ops.support[0].numpy() & true).sum() / true.sum()
    assert kept_max < 0.1
    assert kept_rms > 0.9


def test_a_shrink_that_removes_too_much_of_the_support_is_rejected():
    ops, est, _ = _ops_with_bright_spot()
    before = ops.support.clone()
    cdi.ShrinkWrap(method="max", threshold=0.2, max_shrink=0.5).update(ops, est, 1.0)
    assert torch.equal(ops.support, before)


def test_default_updates_follow_the_er_blocks_of_the_default_schedule():
    sched = parse_schedule(cdi.phasing.DEFAULT_SCHEDULE)
    its = cdi.ShrinkWrap().iterations(sched)
    assert len(sched) == 1200 and len(its) == 20
    assert its[0] == 244 and its[-1] == 1099 and np.all(np.diff(its) == 45)
    # no inner ER block: every 20 iterations from 50, none inside a final ER block
    assert cdi.ShrinkWrap().iterations(parse_schedule("OSS**300*ER**100"))[-1] == 290


def test_free_log_likelihood_rises_when_the_object_over_fits_noise(noisy_bio64):
    sim, loose = noisy_bio64
    rng = np.random.default_rng(0)
    # the truth plus noise everywhere: inside a support over the whole array the noise
    # is free to fit the fitted pixels' Poisson noise, and the free pixels show it
    truth = sim.object * np.sqrt(sim.intensity.sum() / (np.abs(sim.object) ** 2).sum())
    noise = rng.normal(size=(2, 64, 64)) + 1j * rng.normal(size=(2, 64, 64))
    start = (truth + 0.3 * np.abs(truth).max() * noise).astype(np.complex64)
    kw = dict(algorithm="ER", n_iter=30, init=start, seed=0, device="cpu", shrinkwrap=False)
    fair = cdi.phase_retrieval(sim.intensity, support=loose, **kw)
    overfit = cdi.phase_retrieval(sim.intensity, support=np.ones((64, 64), bool), **kw)
    assert overfit.llk["poisson"].max() < fair.llk["poisson"].min()
    assert overfit.llk["free_poisson"].min() > fair.llk["free_poisson"].max()
    assert fair.rank_by == "free_poisson" and fair.best == int(np.argmin(fair.llk["free_poisson"]))


def test_free_pixels_are_withheld_reproducibly_and_reported(noisy_bio64):
    sim, loose = noisy_bio64
    kw = dict(support=loose, algorithm="ER", n_iter=5, n_runs=1, device="cpu")
    a = cdi.phase_retrieval(sim.intensity, seed=1, **kw)
    b = cdi.phase_retrieval(sim.intensity, seed=1, **kw)
    np.testing.assert_array_equal(a.free_mask, b.free_mask)
    assert 0.02 < a.free_mask.mean() < 0.08 and not a.free_mask[32, 32]
    assert set(a.llk) == {f"{p}{n}" for p in ("", "free_") for n in metrics.NOISE_MODELS}
    none = cdi.phase_retrieval(sim.intensity, free_fraction=0, **kw)
    assert none.free_mask is None and none.rank_by == "chi2"


def test_start_is_scaled_to_the_measured_intensity_over_unmasked_pixels(bio64):
    sim, loose = bio64
    start = 1e-3 * cdi.random_start(sim.intensity, seed=0)
    res = cdi.phase_retrieval(sim.intensity, support=loose, init=start, algorithm="ER",
                              n_iter=1, device="cpu", shrinkwrap=False, free_fraction=0)
    # one ER step from a start 1000 times too faint ends near the data's scale
    assert res.final_chi2[0] < 1.0


def test_poisson_log_likelihood_is_about_one_per_pixel_for_the_truth(noisy_bio64):
    sim, _ = noisy_bio64
    llk = metrics.log_likelihood(sim.object, sim.intensity, sim.mask, scale="fit")[0]
    assert 0.3 < llk < 1.5
    assert metrics.r_factor(sim.object, sim.intensity, sim.mask, scale="fit")[0] < 0.3
