"""n_iter with the default schedule runs exactly n_iter iterations of that schedule scaled
in its proportions; with a schedule of one's own, a conflicting n_iter names the fix."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins.phasing import DEFAULT_SCHEDULE, as_schedule, parse_schedule, scale_schedule

OBJ = np.zeros((32, 32), np.complex64)
OBJ[12:20, 13:19] = 1
I = (np.abs(np.fft.fftshift(np.fft.fft2(OBJ, norm="ortho"))) ** 2).astype(np.float32)


def _blocks(schedule) -> list[tuple[str, int]]:
    return [(str(alg), n) for alg, n in schedule.steps]


def test_n_iter_100_with_the_default_schedule_runs_exactly_100_iterations(caplog):
    with caplog.at_level(logging.INFO, logger="cdi_plugins.phasing"):
        res = cdi.phase_retrieval(I, n_iter=100, n_runs=2, seed=0, device="cpu")
    assert res.chi2.shape == (2, 100)
    assert len(parse_schedule(res.schedule)) == 100
    assert res.schedule == str(scale_schedule(DEFAULT_SCHEDULE, 100))
    assert res.parameters["low_resolution"] is None  # 100 asked, 100 run
    said = [r.getMessage() for r in caplog.records if "scaled to 100" in r.getMessage()]
    assert said and "1200 iterations" in said[0]
    assert "HIO(0.9)**14 * (HIO(0.9)**3 * ER**1)**19" in said[0]


def test_the_scaled_default_keeps_every_block_in_order_and_in_proportion():
    default = as_schedule(DEFAULT_SCHEDULE)
    for n_iter in (42, 100, 333, 1200):
        scaled = scale_schedule(DEFAULT_SCHEDULE, n_iter)
        assert len(scaled) == n_iter
        assert [a for a, _ in _blocks(scaled)] == [a for a, _ in _blocks(default)]
        counts = np.array([n for _, n in scaled.steps])
        full = np.array([n for _, n in default.steps])
        assert counts.min() >= 1
        # blocks above the minimum share what the minimal ones leave, each within one
        # iteration of its exact share
        big = counts > 1
        if big.any():
            exact = (n_iter - (~big).sum()) * full[big] / full[big].sum()
            assert np.abs(counts[big] - exact).max() < 1
    assert _blocks(scale_schedule(DEFAULT_SCHEDULE, 2400)) == [
        (a, 2 * n) for a, n in _blocks(default)]
    assert _blocks(scale_schedule("HIO**80 * ER**20", 50)) == [("HIO(0.9)", 40), ("ER", 10)]


def test_the_full_default_and_a_single_algorithm_are_unchanged():
    assert cdi.phase_retrieval(I, algorithm="er", n_iter=7, device="cpu",
                               free_fraction=0).chi2.shape == (1, 7)
    assert str(as_schedule(DEFAULT_SCHEDULE, 1200)) == str(as_schedule(DEFAULT_SCHEDULE))


def test_too_few_iterations_for_the_default_schedule_say_how_many_it_needs():
    with pytest.raises(ValueError, match=r"n_iter=10 is too few for the default schedule .*"
                                         r"give n_iter >= 42, or a single algorithm"):
        cdi.phase_retrieval(I, n_iter=10, device="cpu")
    with pytest.raises(ValueError, match="n_iter must be a positive integer"):
        cdi.phase_retrieval(I, n_iter=0, device="cpu")


def test_a_conflicting_custom_schedule_names_exactly_what_to_pass():
    custom = "(HIO**80*ER**20)**6"
    with pytest.raises(ValueError) as err:
        cdi.phase_retrieval(I, algorithm=custom, n_iter=100, device="cpu")
    msg = str(err.value)
    assert "n_iter=100 disagrees with the schedule's 600 iterations" in msg
    assert "pass n_iter=None" in msg
    fix = re.search(r'algorithm="([^"]+)"', msg).group(1)
    assert fix == scale_schedule(custom, 100).compact()
    # what the message says to pass runs 100 iterations, with n_iter or without
    assert len(as_schedule(fix)) == len(as_schedule(fix, 100)) == 100
    with pytest.raises(ValueError, match="cannot be scaled to fewer than 12"):
        as_schedule(custom, n_iter=5)


def test_compact_strings_fold_repeats_and_read_back():
    sched = parse_schedule(DEFAULT_SCHEDULE)
    assert sched.compact() == "HIO(0.9)**200 * (HIO(0.9)**40 * ER**5)**20 * ER**100"
    for text in (DEFAULT_SCHEDULE, "HIO**3*ER**1*HIO**3*ER**2", "ER**5"):
        s = parse_schedule(text)
        assert str(parse_schedule(s.compact())) == str(s)
