"""The low-resolution start: a first phasing of the low-passed pattern whose objects are
the main schedule's starts; on by default with the default schedule and random starts."""

from __future__ import annotations

import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins.convre import PHASING
from cdi_plugins.phasing.lowres import LowResolution, as_low_resolution

KW = {"seed": 3, "device": "cpu", "show_progress": False}
SHORT = LowResolution(width=0.2, schedule="HIO**12 * ER**3")


@pytest.fixture(scope="module")
def pattern():
    sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(32, seed=2),
                                        photons=1e7, beamstop=1.5, seed=2)
    return sim.intensity, sim.mask


def test_window_is_one_at_the_zero_frequency_and_1_over_e_at_its_width():
    w = LowResolution(width=0.125).window((64, 32))
    assert w[32, 16] == 1.0
    assert np.isclose(w[32 + 8, 16], np.exp(-1), rtol=1e-6)  # 0.125 * 64 rows
    assert np.isclose(w[32, 16 + 4], np.exp(-1), rtol=1e-6)  # 0.125 * 32 columns
    assert np.all(np.diff(w[32, 16:]) < 0)


def test_the_stage_is_a_phasing_of_the_low_passed_pattern_whose_objects_start_the_main_one(
        pattern):
    intensity, mask = pattern
    sched = "(HIO**20*ER**5)**2"
    both = cdi.phase_retrieval(intensity, mask, algorithm=sched, n_runs=3,
                               low_resolution=SHORT, **KW)
    # by hand: the same random starts phased on the windowed pattern (the same free pixels
    # withheld), then the main schedule from those objects on the starting support again
    free = both.free_mask
    start = cdi.random_start(intensity, mask, n_runs=3, seed=KW["seed"])
    low = cdi.phase_retrieval(SHORT.pattern(intensity), mask | free, algorithm=SHORT.schedule,
                              init=start, free_fraction=0,
                              support=cdi.auto_support(intensity, mask),
                              max_support=cdi.phasing.centred_box(intensity.shape), **KW)
    main = cdi.phase_retrieval(intensity, mask, algorithm=sched, init=low.objects, **KW)
    np.testing.assert_allclose(both.objects, main.objects,
                               atol=1e-5 * np.abs(main.objects).max())
    assert both.parameters["low_resolution"] == {"width": 0.2, "schedule": "HIO**12 * ER**3"}
    # and it is not a no-op
    plain = cdi.phase_retrieval(intensity, mask, algorithm=sched, n_runs=3, **KW)
    assert plain.parameters["low_resolution"] is None
    assert not np.allclose(plain.objects, both.objects)


def test_on_with_the_default_schedule_off_with_others_with_given_starts_and_for_convre():
    assert as_low_resolution(None, default_schedule=True, given_starts=False) == LowResolution()
    assert as_low_resolution(None, default_schedule=False, given_starts=False) is None
    assert as_low_resolution(True, default_schedule=False, given_starts=False) == LowResolution()
    assert as_low_resolution(True, default_schedule=True, given_starts=True) is None
    assert as_low_resolution(False, default_schedule=True, given_starts=False) is None
    assert as_low_resolution(SHORT, default_schedule=False, given_starts=False) is SHORT
    assert PHASING["low_resolution"] is False


def test_default_phasing_records_the_stage(pattern):
    intensity, mask = pattern
    res = cdi.phase_retrieval(intensity, mask, n_runs=1, **KW)
    assert res.parameters["low_resolution"] == {"width": 0.125, "schedule": "HIO**300 * ER**20"}
    assert res.chi2.shape == (1, 1200)  # the history is the main schedule's
    res = cdi.phase_retrieval(intensity, mask, n_runs=1, init=res.objects, **KW)
    assert res.parameters["low_resolution"] is None


@pytest.mark.parametrize("bad, error, match", [
    ("yes", TypeError, "low_resolution must be"),
    (0.5, TypeError, "low_resolution must be"),
])
def test_bad_low_resolution_values_are_refused(pattern, bad, error, match):
    with pytest.raises(error, match=match):
        cdi.phase_retrieval(*pattern, low_resolution=bad, **KW)


@pytest.mark.parametrize("width", [0.0, -0.1, 1.5])
def test_bad_widths_are_refused(width):
    with pytest.raises(ValueError, match="low_resolution width must be in"):
        LowResolution(width=width)


def test_runs_with_the_stage_on_two_workers_equal_those_of_one_process(pattern, dask_client,
                                                                        one_thread):
    kw = dict(algorithm="(HIO**20*ER**5)**2", n_runs=5, low_resolution=SHORT, **KW)
    here = cdi.phase_retrieval(*pattern, **kw)
    there = cdi.phase_retrieval(*pattern, batch_size=2, cluster=dask_client, **kw)
    np.testing.assert_allclose(here.objects, there.objects,
                               atol=1e-6 * np.abs(here.objects).max())
    assert there.parameters["low_resolution"] == here.parameters["low_resolution"]
