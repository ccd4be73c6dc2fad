"""Engine: recovery, missing data, OSS vs HIO, batching, seeds, schedules, plugins, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdi_plugins as cdi
from cdi_plugins import metrics
from cdi_plugins.phasing.algorithms import (
    ER,
    HIO,
    OSS,
    RAAR,
    Algorithm,
    as_schedule,
    parse_schedule,
)
from tomopy_dlalign import plugins

# A bound of 0.05 on the relative real-space error (after alignment) sits between what a
# solved noiseless problem reaches (about 0.011 for the best-chi^2 run here, with or
# without the beamstop) and what a visibly degraded image scores: the truth blurred by a
# Gaussian of 0.5 px already scores 0.086, of 1 px 0.25, and random starts about 1.
RECOVERY_BOUND = 0.05
SCHEDULE = "(HIO(0.9)**80*ER**20)**3"


def _errors(res, truth):
    return np.array([metrics.real_space_error(o, truth) for o in res.objects])


def test_noiseless_object_is_recovered_from_a_loose_support(bio64):
    sim, loose = bio64
    start = cdi.random_start(sim.intensity, n_runs=8, seed=0)
    assert min(_errors(cdi.PhasingResult(start, None, None, ""), sim.object)) > 0.5
    res = cdi.phase_retrieval(sim.intensity, support=loose, algorithm=SCHEDULE, n_runs=8,
                              seed=0, device="cpu", constraint="positive")
    err = _errors(res, sim.object)
    assert err[res.best] < RECOVERY_BOUND
    assert res.final_chi2.min() < 1e-4
    # shrink-wrap tightened the loose support towards the true one, inside the maximum
    assert res.supports[res.best].sum() < loose.sum()
    assert not (res.supports & ~loose).any()


def test_noiseless_object_is_recovered_behind_a_beamstop(bio64):
    sim, loose = bio64
    mask = cdi.simulate.beamstop_mask(sim.intensity.shape, 1.5)
    data = np.where(mask, 0, sim.intensity)
    res = cdi.phase_retrieval(data, mask=mask, support=loose, algorithm=SCHEDULE, n_runs=8,
                              seed=0, device="cpu", constraint="positive")
    assert int(mask.sum()) == 9
    assert _errors(res, sim.object)[res.best] < RECOVERY_BOUND


def test_masked_pixels_are_left_free_by_the_modulus_projection(bio64):
    sim, loose = bio64
    mask = cdi.simulate.beamstop_mask(sim.intensity.shape, 2)
    # garbage under the mask must not change the result
    a = cdi.phase_retrieval(np.where(mask, 0, sim.intensity), mask=mask, support=loose,
                            algorithm="hio", n_iter=30, seed=3, device="cpu", shrinkwrap=False)
    b = cdi.phase_retrieval(np.where(mask, 1e6, sim.intensity), mask=mask, support=loose,
                            algorithm="hio", n_iter=30, seed=3, device="cpu", shrinkwrap=False)
    # the random start uses the (masked) modulus, not the garbage
    np.testing.assert_allclose(a.objects, b.objects, atol=1e-5)


def test_oss_beats_plain_hio_at_moderate_noise(noisy_bio64):
    sim, loose = noisy_bio64
    kw = dict(support=loose, n_iter=300, n_runs=8, seed=0, device="cpu",
              constraint="positive", shrinkwrap=False)
    hio = cdi.phase_retrieval(sim.intensity, algorithm="hio", **kw)
    oss = cdi.phase_retrieval(sim.intensity, algorithm="oss", **kw)
    e_hio, e_oss = _errors(hio, sim.object), _errors(oss, sim.object)
    # over seeds 0-5 (fused kernels and PyTorch path alike) OSS's closest run lay at
    # 0.04-0.07 and HIO's at 0.12-0.17, and OSS's median error was 0.08-0.14 against
    # HIO's 0.17-0.24; which run each ranks first swaps with the seed (4 of 6 for OSS)
    assert e_oss.min() < 0.8 * e_hio.min()
    assert np.median(e_oss) < 0.8 * np.median(e_hio)


def test_batch_of_runs_equals_the_same_runs_one_by_one(bio64):
    sim, loose = bio64
    starts = cdi.random_start(sim.intensity, n_runs=3, seed=7)
    kw = dict(support=loose, algorithm="(HIO**10*ER**5)**2*OSS**20", device="cpu",
              shrinkwrap=cdi.ShrinkWrap(start=10, every=10))
    batch = cdi.phase_retrieval(sim.intensity, init=starts, **kw)
    assert batch.objects.shape == (3, 64, 64)
    for r in range(3):
        one = cdi.phase_retrieval(sim.intensity, init=starts[r], **kw)
        np.testing.assert_allclose(one.objects[0], batch.objects[r], atol=2e-5, rtol=0)
        np.testing.assert_allclose(one.chi2[0], batch.chi2[r], rtol=1e-3, atol=1e-9)
        np.testing.assert_array_equal(one.supports[0], batch.supports[r])


def test_batch_size_does_not_change_the_result(bio64):
    sim, loose = bio64
    kw = dict(support=loose, algorithm="OSS**20*ER**5", n_runs=5, seed=2, device="cpu")
    whole = cdi.phase_retrieval(sim.intensity, batch_size=5, **kw)
    split = cdi.phase_retrieval(sim.intensity, batch_size=2, **kw)
    np.testing.assert_allclose(split.objects, whole.objects, atol=2e-5, rtol=0)
    np.testing.assert_array_equal(split.supports, whole.supports)


def test_same_seed_gives_same_result_and_other_seed_differs(bio64):
    sim, loose = bio64
    kw = dict(support=loose, algorithm="raar", n_iter=20, n_runs=2, device="cpu")
    a = cdi.phase_retrieval(sim.intensity, seed=5, **kw)
    b = cdi.phase_retrieval(sim.intensity, seed=5, **kw)
    c = cdi.phase_retrieval(sim.intensity, seed=6, **kw)
    np.testing.assert_array_equal(a.objects, b.objects)
    assert not np.allclose(a.objects, c.objects)


def test_result_has_documented_shapes_and_dtypes(bio64):
    sim, _ = bio64
    res = cdi.phase_retrieval(sim.intensity, algorithm="er", n_iter=12, n_runs=3, seed=0,
                              device="cpu")
    assert res.objects.shape == (3, 64, 64) and res.objects.dtype == np.complex64
    assert res.supports.shape == (3, 64, 64) and res.supports.dtype == bool
    assert res.chi2.shape == (3, 12) and res.chi2.dtype == np.float32
    # chi^2 history is that of the returned objects at the last iteration, on the pixels
    # they were fitted to (the free ones withheld)
    np.testing.assert_allclose(res.final_chi2,
                               metrics.chi2(res.objects, sim.intensity, res.free_mask),
                               rtol=1e-3)


def test_er_chi2_never_increases(bio64):
    sim, loose = bio64
    res = cdi.phase_retrieval(sim.intensity, support=loose, algorithm="er", n_iter=40, seed=1,
                              device="cpu", shrinkwrap=False)
    assert (np.diff(res.chi2[0]) <= 1e-6).all()


def test_positivity_constraint_gives_real_non_negative_objects(bio64):
    sim, loose = bio64
    res = cdi.phase_retrieval(sim.intensity, support=loose, algorithm="hio", n_iter=20,
                              seed=0, device="cpu", constraint="positive")
    assert (res.objects.imag == 0).all() and (res.objects.real >= 0).all()


def test_non_square_even_pattern_is_accepted():
    obj = np.zeros((32, 48), np.complex64)
    obj[12:20, 18:28] = 1
    I = cdi.simulate.diffraction(obj)
    res = cdi.phase_retrieval(I, algorithm="er", n_iter=5, seed=0, device="cpu")
    assert res.objects.shape == (1, 32, 48)


def test_schedule_operator_list_and_string_forms_agree():
    ops = (HIO(0.9) ** 80 * ER() ** 20) ** 6
    lst = as_schedule([("HIO", 80), ("ER", 20)] * 6)
    txt = parse_schedule("(HIO(0.9)**80*ER**20)**6")
    assert str(ops) == str(lst) == str(txt)
    assert len(ops) == 600
    assert [type(a) for a, _ in txt][:2] == [HIO, ER]
    assert isinstance(parse_schedule("RAAR(0.8)**3").steps[0][0], RAAR)
    assert parse_schedule("RAAR(0.8)**3").steps[0][0].beta == 0.8


@pytest.mark.parametrize("bad", ["HIO**", "(HIO**3", "HIO**2.5", "FOO**3", "HIO**3 ER**2"])
def test_malformed_schedule_string_is_rejected(bad):
    with pytest.raises(ValueError):
        parse_schedule(bad)


def test_n_iter_conflicting_with_schedule_is_rejected():
    with pytest.raises(ValueError, match="n_iter"):
        as_schedule("HIO**10*ER**10", n_iter=50)


def test_builtin_algorithms_are_registered_as_phasing_plugins():
    assert {"er", "hio", "raar", "oss"} <= set(plugins.available("phasing"))
    assert plugins.get("phasing", "oss") is OSS


class _Negate(Algorithm):
    """A toy third-party algorithm: ER, counting its calls."""

    name = "TOY"
    calls = 0

    def step(self, rho, ops, k):
        type(self).calls += 1
        est = ops.estimate(ops.modulus(rho))
        return est, est


class _ToyPlugin:
    @plugins.hookimpl
    def register_phasing(self):
        return {"toy": _Negate}


def test_third_party_phasing_plugin_is_found_and_called(bio64):
    sim, loose = bio64
    plugins.register(_ToyPlugin(), "toy_plugin")
    try:
        assert "toy" in plugins.available("phasing")
        res = cdi.phase_retrieval(sim.intensity, support=loose, algorithm="toy", n_iter=7,
                                  device="cpu")
        assert _Negate.calls == 7 and res.schedule == "TOY**7"
        assert len(parse_schedule("TOY**3*ER**2")) == 5
    finally:
        plugins.unregister("toy_plugin")
    assert "toy" not in plugins.available("phasing")


def test_unknown_algorithm_error_lists_the_registered_ones(bio64):
    sim, _ = bio64
    with pytest.raises(ValueError, match="oss"):
        cdi.phase_retrieval(sim.intensity, algorithm="nope", device="cpu")


@pytest.mark.parametrize("bad, match", [
    (lambda I: -I, "non-negative"),
    (lambda I: np.where(np.arange(I.size).reshape(I.shape) == 5, np.nan, I), "NaN"),
    (lambda I: I[:-1, :-1], "even sizes"),
    (lambda I: I[0], "2D"),
    (lambda I: np.zeros_like(I), "zero everywhere"),
])
def test_bad_intensity_gets_a_clear_error(bio64, bad, match):
    sim, _ = bio64
    with pytest.raises(ValueError, match=match):
        cdi.phase_retrieval(bad(sim.intensity - (1 if match == "non-negative" else 0)),
                            device="cpu")


def test_mask_of_wrong_shape_is_rejected(bio64):
    sim, _ = bio64
    with pytest.raises(ValueError, match=r"mask must have the intensity's shape \(64, 64\)"):
        cdi.phase_retrieval(sim.intensity, mask=np.zeros((32, 32), bool), device="cpu")


def test_support_larger_than_the_array_is_rejected(bio64):
    sim, _ = bio64
    with pytest.raises(ValueError, match="support must have shape"):
        cdi.phase_retrieval(sim.intensity, support=np.ones((128, 128), bool), device="cpu")
    with pytest.raises(ValueError, match="empty"):
        cdi.phase_retrieval(sim.intensity, support=np.zeros((64, 64), bool), device="cpu")


def test_bad_arguments_name_themselves(bio64):
    sim, _ = bio64
    with pytest.raises(ValueError, match="n_runs"):
        cdi.phase_retrieval(sim.intensity, n_runs=0, device="cpu")
    with pytest.raises(ValueError, match="constraint"):
        cdi.phase_retrieval(sim.intensity, constraint="imaginary", device="cpu")
    with pytest.raises(ValueError, match="init"):
        cdi.phase_retrieval(sim.intensity, init=np.ones((2, 32, 32)), device="cpu")
    with pytest.raises(ValueError, match="beta"):
        HIO(1.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_result(bio64):
    sim, loose = bio64
    kw = dict(support=loose, algorithm="(HIO**20*ER**10)", n_runs=4, seed=0)
    cpu = cdi.phase_retrieval(sim.intensity, device="cpu", **kw)
    gpu = cdi.phase_retrieval(sim.intensity, device="cuda", **kw)
    np.testing.assert_allclose(gpu.objects, cpu.objects, atol=1e-3)


def test_hio_chi2_every_few_iterations_is_the_same_curve_sampled(monkeypatch):
    from cdi_plugins.phasing import engine

    obj = np.zeros((32, 32), np.complex64)
    obj[12:20, 13:19] = 1
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(obj, norm="ortho"))) ** 2
    kw = dict(algorithm="HIO**25 * ER**5", n_runs=2, seed=0, device="cpu",
              shrinkwrap=False, show_progress=False, free_fraction=0)
    sparse = cdi.phase_retrieval(intensity, **kw)
    monkeypatch.setattr(engine, "CHI2_EVERY", 1)
    full = cdi.phase_retrieval(intensity, **kw)
    # the same iterates: skipping chi^2 changes nothing but the curve between samples
    np.testing.assert_array_equal(sparse.objects, full.objects)
    for it in (0, 10, 20, 24, 25, 29):           # sampled, the block's end, every ER
        np.testing.assert_allclose(sparse.chi2[:, it], full.chi2[:, it], rtol=1e-6)
    assert np.array_equal(sparse.chi2[:, 1:10], np.repeat(sparse.chi2[:, :1], 9, axis=1))
    assert not np.array_equal(full.chi2[:, 1:10], np.repeat(full.chi2[:, :1], 9, axis=1))
    np.testing.assert_allclose(sparse.final_chi2, metrics.chi2(sparse.objects, intensity),
                               rtol=1e-4)


def test_iterations_count_the_low_resolution_stage_when_it_ran():
    obj = np.zeros((32, 32), np.complex64)
    obj[12:20, 13:19] = 1
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(obj, norm="ortho"))) ** 2
    kw = dict(n_runs=1, seed=0, device="cpu", show_progress=False)
    default = cdi.phase_retrieval(intensity, **kw)
    assert default.iterations == default.chi2.shape[1] + 320 == 1520
    plain = cdi.phase_retrieval(intensity, algorithm="HIO**30 * ER**10", **kw)
    assert plain.iterations == 40
