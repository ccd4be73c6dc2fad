"""Support growth judged by the free log-likelihood (:mod:`cdi_plugins.phasing.growth`):
a support too tight for a rounded crystal grows and the error falls; a right support does
not grow and leaves the runs untouched, bit for bit; the decisions, the bound, the
record, the cluster path and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

import cdi_plugins as cdi
from cdi_plugins import io, metrics
from cdi_plugins.phasing.distributed import merge_histories
from cdi_plugins.phasing.growth import as_support_growth, grow_supports
from cdi_plugins.physics import as_pattern

KW = {"device": "cpu", "show_progress": False}
TRIAL = 300  # iterations of the default trial schedule, HIO**200 * ER**100


def _error(obj, truth) -> float:
    return metrics.real_space_error(obj, truth, subpixel=4)


@pytest.fixture(scope="module")
def rounded():
    """A 32^3 crystal with rounded edges, its 1e8-photon pattern and a support one voxel
    too tight (the truth's half-amplitude region, eroded)."""
    c = cdi.simulate.faceted_crystal_3d(32, extent=0.4, seed=0)
    sim = cdi.simulate.simulate_pattern(c.obj, photons=1e8, seed=0)
    tight = ndimage.binary_erosion(np.abs(c.obj) > 0.5 * np.abs(c.obj).max())
    return c.obj, sim, tight


def test_grow_dilates_by_step_along_the_axes_within_the_bound():
    sup = np.zeros((1, 9, 9), bool)
    sup[0, 4, 4] = True
    grown = cdi.SupportGrowth(step=2).grow(sup, np.ones_like(sup))[0]
    yy, xx = np.mgrid[:9, :9]
    np.testing.assert_array_equal(grown, np.abs(yy - 4) + np.abs(xx - 4) <= 2)
    bound = np.zeros_like(sup)
    bound[0, :, :5] = True
    np.testing.assert_array_equal(cdi.SupportGrowth(step=2).grow(sup, bound)[0],
                                  grown & bound[0])
    vol = np.zeros((2, 5, 5, 5), bool)
    vol[:, 2, 2, 2] = True
    assert cdi.SupportGrowth().grow(vol, np.ones_like(vol)).sum(axis=(1, 2, 3)).tolist() == [7, 7]


def test_a_support_too_tight_for_a_rounded_crystal_grows_and_the_error_falls(rounded,
                                                                             one_thread):
    truth, sim, tight = rounded
    kw = KW | {"support": tight, "shrinkwrap": False, "algorithm": "HIO**200*ER**100",
               "n_runs": 2, "seed": 0}
    off = cdi.phase_retrieval(sim.intensity, sim.mask, support_growth=False, **kw)
    on = cdi.phase_retrieval(sim.intensity, sim.mask,
                             support_growth=cdi.SupportGrowth(bounded=False), **kw)
    assert min(_error(o, truth) for o in off.objects) > 0.4     # measured 0.64-0.66
    assert max(_error(o, truth) for o in on.objects) < 0.15     # measured 0.08-0.10
    assert (on.grown_by >= 2).all() and not off.grown_by.any()
    rec = on.parameters["support_growth"]
    assert off.parameters["support_growth"] is None
    # the record says what the likelihoods say, and the free pixels judged it
    np.testing.assert_allclose(rec["free_poisson_after"], on.llk["free_poisson"], rtol=1e-5)
    assert (np.array(rec["free_poisson_after"]) < np.array(rec["free_poisson_before"])).all()
    assert rec["settings"]["bounded"] is False
    # every trial that ran is in chi^2's history, and the iterations count them
    assert on.chi2.shape == (2, TRIAL * (1 + rec["trials"])) == (2, on.iterations)
    assert (on.supports.sum(axis=(1, 2, 3)) > tight.sum()).all()
    assert (on.supports & tight).sum() == 2 * tight.sum()


def test_a_right_support_does_not_grow_and_the_runs_are_untouched(one_thread):
    obj = cdi.simulate.crystal_object_3d(32, seed=1)
    sim = cdi.simulate.simulate_pattern(obj, photons=1e8, seed=1)
    kw = KW | {"support": np.abs(obj) > 0, "shrinkwrap": False,
               "algorithm": "HIO**200*ER**100", "n_runs": 2, "seed": 1}
    off = cdi.phase_retrieval(sim.intensity, sim.mask, support_growth=False, **kw)
    on = cdi.phase_retrieval(sim.intensity, sim.mask,
                             support_growth=cdi.SupportGrowth(bounded=False), **kw)
    assert not on.grown_by.any() and on.parameters["support_growth"]["trials"] == 1
    np.testing.assert_array_equal(on.objects, off.objects)
    np.testing.assert_array_equal(on.supports, off.supports)
    # the rejected trial repeats each run's last chi^2
    np.testing.assert_array_equal(on.chi2[:, :TRIAL], off.chi2)
    assert (on.chi2[:, TRIAL:] == off.chi2[:, -1:]).all()


def test_the_default_grows_3d_patterns_phased_with_the_default_schedule_only():
    g = as_support_growth(None, True, 3, True, True, True)
    assert isinstance(g, cdi.SupportGrowth) and g.bounded is False
    assert as_support_growth(None, True, 3, True, True, False).bounded is True
    assert as_support_growth(None, True, 2, True, True, True) is None        # 2D
    assert as_support_growth(None, False, 3, True, True, True) is None       # own schedule
    assert as_support_growth(None, True, 3, False, True, True) is None       # no free pixels
    assert as_support_growth(None, True, 3, True, False, True) is None       # fixed support
    assert as_support_growth(False, True, 3, True, True, True) is None
    assert as_support_growth(True, False, 2, True, False, False).bounded is True
    mine = cdi.SupportGrowth(step=2, bounded=True)
    assert as_support_growth(mine, True, 3, True, True, True) == mine


def test_growth_beyond_the_default_box_and_the_record_from_a_given_run():
    """The logic alone, with a stand-in for the phasing: trial 1 finds the truth, trial 2
    finds nothing better, so the runs stop there, grown by one pixel past their bound."""
    truth = np.zeros((16, 16), np.complex64)
    truth[5:11, 6:11] = 1.0
    pat = as_pattern(np.abs(np.fft.fftshift(np.fft.fftn(truth, norm="ortho"))) ** 2 * 1e4)
    free = np.zeros(pat.shape, bool)
    free[::3, ::2] = True
    base_sup = np.zeros((2, 16, 16), bool)
    base_sup[:, 6:10, 7:10] = True
    bound = base_sup.copy()
    calls = []

    def run(start, support, schedule):
        calls.append(support.copy())
        return np.broadcast_to(truth * 100, start.shape).copy(), support, \
            np.zeros((len(start), len(schedule)), np.float32)

    base = np.full((2, 16, 16), 50, np.complex64) * base_sup
    chi2 = np.ones((2, 5), np.float32)
    for bounded, wider in ((False, True), (True, False)):
        calls.clear()
        growth = cdi.SupportGrowth(max_steps=3, schedule="ER**4", bounded=bounded)
        objs, sups, hist, rec = grow_supports(run, growth, pat, free, base, base_sup, bound,
                                              chi2)
        assert hist.shape == (2, 5 + rec["trials"] * 4)     # the trials that ran
        if not wider:       # nothing to grow into: no trial ran, the runs are as they were
            assert not calls and rec["trials"] == 0 and rec["grown_by"] == [0, 0]
            np.testing.assert_array_equal(objs, base)
            assert (hist == 1).all()
            continue
        assert rec["trials"] == 2 and rec["grown_by"] == [1, 1] and len(calls) == 2
        np.testing.assert_array_equal(sups, growth.grow(base_sup, np.ones_like(bound)))
        assert (sups & ~bound).any()
        np.testing.assert_array_equal(objs, np.broadcast_to(truth * 100, objs.shape))
        assert (hist[:, 5:9] == 0).all() and (hist[:, 9:] == 0).all()


def test_batches_that_ran_fewer_trials_repeat_their_last_chi2_on_a_cluster():
    short = np.array([[3.0, 2.0]], np.float32)
    long = np.array([[5.0, 4.0, 1.0, 0.5]], np.float32)
    np.testing.assert_array_equal(merge_histories([short, long]),
                                  [[3, 2, 2, 2], [5, 4, 1, 0.5]])


@pytest.mark.parametrize("kwargs, match", [
    ({"step": 0}, "step"), ({"step": 1.5}, "step"), ({"max_steps": 0}, "max_steps"),
    ({"tolerance": 1.0}, "tolerance"), ({"tolerance": -0.1}, "tolerance"),
])
def test_bad_settings_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cdi.SupportGrowth(**kwargs)
    with pytest.raises(ValueError, match="schedule|algorithm"):
        cdi.SupportGrowth(schedule="NOPE**3")


def test_growth_needs_free_pixels_and_a_setting_it_knows(rounded):
    _, sim, tight = rounded
    with pytest.raises(ValueError, match="free_fraction"):
        cdi.phase_retrieval(sim.intensity, support=tight, algorithm="ER", n_iter=2,
                            free_fraction=0, support_growth=True, **KW)
    with pytest.raises(TypeError, match="support_growth"):
        cdi.phase_retrieval(sim.intensity, support=tight, algorithm="ER", n_iter=2,
                            support_growth="yes", **KW)


def test_growth_on_a_cluster_equals_growth_in_one_process(rounded, dask_client, one_thread):
    _, sim, tight = rounded
    kw = KW | {"support": tight, "shrinkwrap": False, "n_runs": 3, "seed": 2,
               "algorithm": "HIO**200*ER**100",
               "support_growth": cdi.SupportGrowth(max_steps=2, bounded=False)}
    here = cdi.phase_retrieval(sim.intensity, sim.mask, **kw)
    there = cdi.phase_retrieval(sim.intensity, sim.mask, batch_size=1, cluster=dask_client,
                                **kw)
    np.testing.assert_allclose(there.objects, here.objects,
                               atol=1e-6 * np.abs(here.objects).max())
    np.testing.assert_array_equal(there.supports, here.supports)
    np.testing.assert_allclose(there.chi2, here.chi2, rtol=1e-5)
    a, b = there.parameters["support_growth"], here.parameters["support_growth"]
    assert a["grown_by"] == b["grown_by"] and a["trials"] == b["trials"] == 2
    assert sum(a["grown_by"]) > 0
    for key in ("free_poisson_before", "free_poisson_after"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9)


def test_the_command_line_switches_growth_on_and_off(tmp_path):
    pattern = tmp_path / "p.cxi"
    assert cdi.cli.main(["simulate", "-o", str(pattern), "--size", "32", "--photons", "1e7",
                         "--seed", "4"]) == 0
    grown = {}
    for flag in ("auto", "on", "off"):
        out, rep = tmp_path / f"{flag}.h5", tmp_path / flag
        assert cdi.cli.main(["phase", str(pattern), "--runs", "1", "--algorithm", "HIO**40",
                             "--no-progress", "--support-growth", flag, "-o", str(out),
                             "--report", str(rep)]) == 0
        grown[flag] = io.read_result(out).parameters["support_growth"]
        assert json.loads((rep / "summary.json").read_text())["support_growth"] == grown[flag]
    assert grown["auto"] is None and grown["off"] is None      # a 2D pattern
    assert grown["on"]["settings"]["step"] == 1 and grown["on"]["trials"] >= 1
