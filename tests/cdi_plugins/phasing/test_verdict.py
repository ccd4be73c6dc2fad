"""The verdict of a phasing: failures flagged from the data alone (the truth only checks
the verdict), recorded in the result file and drawn on the report."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from matplotlib import image as mpimg

import cdi_plugins as cdi
from cdi_plugins import io, metrics, simulate
from cdi_plugins.phasing import centred_box, report
from cdi_plugins.phasing.constraints import choose_constraint
from cdi_plugins.phasing.verdict import AGREE_DISTANCE, FIT_FACTOR, Verdict, assess

pytestmark = pytest.mark.usefixtures("one_thread")
OSS = {"algorithm": "oss", "n_iter": 300, "n_runs": 4, "seed": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def counts_bio():
    """Photon counts of a real, positive object behind a 1 px beamstop."""
    return simulate.simulate_pattern(simulate.biological_object(64, seed=0), photons=1e6,
                                     beamstop=1, seed=1)


@pytest.fixture(scope="module")
def counts_crystal():
    """Photon counts of a strong-phase (complex) crystal."""
    return simulate.simulate_pattern(simulate.crystal_object(64, seed=0), photons=1e6,
                                     beamstop=1, seed=1)


def test_a_converged_phasing_passes_and_its_image_is_right(counts_bio):
    res = cdi.phase_retrieval(counts_bio.intensity, mask=counts_bio.mask,
                              constraint="positive", **OSS)
    q = res.quality
    assert q.ok and not q.reasons, q
    assert q.fit_ratio < 2 and q.n_agree == q.n_compared == 3
    assert metrics.real_space_error(res.best_object, counts_bio.object) < 0.1


def test_too_few_iterations_are_flagged_without_the_truth(counts_bio):
    res = cdi.phase_retrieval(counts_bio.intensity, mask=counts_bio.mask, algorithm="hio",
                              n_iter=5, n_runs=4, seed=0, device="cpu")
    q = res.quality
    assert not q.ok and str(q).startswith("FAILED")
    assert q.fit_ratio > FIT_FACTOR
    assert any("no other run" in r for r in q.reasons)
    assert metrics.real_space_error(res.best_object, counts_bio.object) > 0.5  # it did fail


def test_a_wrong_constraint_is_flagged_and_the_hint_names_the_right_one(counts_crystal):
    # the default schedule: 300 OSS iterations find this strong-phase crystal to < 0.15
    # from fewer than half of the seeds (0.05-0.46), the defaults from all (0.03-0.08)
    kw = dict(mask=counts_crystal.mask, n_runs=4, seed=0, device="cpu")
    wrong = cdi.phase_retrieval(counts_crystal.intensity, constraint="positive", **kw)
    right = cdi.phase_retrieval(counts_crystal.intensity, constraint="none", **kw)
    assert not wrong.quality.ok and wrong.quality.fit_ratio > FIT_FACTOR
    assert any("constraint='none'" in n for n in wrong.quality.notes)
    assert right.quality.ok, right.quality
    assert metrics.real_space_error(wrong.best_object, counts_crystal.object) > 0.4
    assert metrics.real_space_error(right.best_object, counts_crystal.object) < 0.15


def test_auto_constraint_follows_friedel_symmetry(counts_bio, counts_crystal):
    assert choose_constraint("auto", counts_bio.intensity, counts_bio.mask) == "positive"
    assert choose_constraint("auto", counts_crystal.intensity, counts_crystal.mask) == "none"
    noiseless = simulate.simulate_pattern(simulate.biological_object(64, seed=0), None)
    assert choose_constraint("auto", noiseless.intensity) == "none"  # not counts: untested
    res = cdi.phase_retrieval(counts_bio.intensity, mask=counts_bio.mask, constraint="auto",
                              **OSS)
    assert res.parameters["constraint"] == "positive" and res.quality.ok
    with pytest.raises(ValueError, match="constraint must be one of"):
        choose_constraint("positivity", counts_bio.intensity)


def _result(objects, supports=None, **params) -> cdi.PhasingResult:
    objects = np.asarray(objects, np.complex64)
    n = len(objects)
    if supports is None:
        supports = np.abs(objects) > 0
    return cdi.PhasingResult(objects=objects, supports=np.asarray(supports, bool),
                             chi2=np.linspace(1, 2, n, dtype=np.float32)[:, None],
                             schedule="", parameters=params)


def test_runs_agree_up_to_translation_twin_and_phase_and_unrelated_ones_do_not(bio64):
    sim, _ = bio64
    o = sim.object
    same = [o, 1j * np.roll(o, (2, -3), axis=(0, 1)), metrics.twin(o) * np.exp(0.7j)]
    good = assess(_result(same), sim.intensity)
    assert good.ok and good.n_agree == 2 and max(good.distances) < 1e-3
    rng = np.random.default_rng(0)
    others = [np.roll(simulate.biological_object(64, seed=s), 5, axis=1) *
              (rng.random((64, 64)) > 0.3) for s in (7, 8)]
    bad = assess(_result([o, *others]), sim.intensity)
    assert not bad.ok and bad.n_agree == 0
    assert min(bad.distances) > AGREE_DISTANCE
    assert any("no other run" in r for r in bad.reasons)
    # noiseless intensities are no photon counts: the fit is not judged, and says so
    assert bad.fit_ratio is None and any("not photon counts" in n for n in bad.notes)


def test_a_collapsed_support_or_one_that_filled_the_box_is_flagged(bio64):
    sim, _ = bio64
    objs = np.stack([sim.object] * 2)
    tiny = np.zeros((2, 64, 64), bool)
    tiny[:, 32, 31:34] = True
    assert any("collapsed to 3 pixels" in r for r in assess(_result(objs, tiny),
                                                              sim.intensity).reasons)
    box = np.broadcast_to(centred_box((64, 64)), (2, 64, 64))
    filled = assess(_result(objs, box, shrinkwrap={"threshold": 0.25}), sim.intensity,
                    max_support=centred_box((64, 64)))
    assert any("filled its bound" in r for r in filled.reasons)
    # a fixed support (no shrink-wrap) is its own bound: nothing to flag
    assert assess(_result(objs, box, shrinkwrap=None), sim.intensity,
                  max_support=centred_box((64, 64))).ok
    half = np.ones((2, 64, 64), bool)
    half[:, :, :20] = False
    assert any("oversampling below 2" in r for r in assess(_result(objs, half),
                                                             sim.intensity).reasons)


@pytest.fixture(scope="module")
def failed_and_good(counts_crystal):
    kw = {"mask": counts_crystal.mask, **OSS}
    return (cdi.phase_retrieval(counts_crystal.intensity, constraint="positive", **kw),
            cdi.phase_retrieval(counts_crystal.intensity, constraint="none", **kw))


def test_the_result_file_records_the_verdict(tmp_path, failed_and_good, counts_crystal):
    for res, name in zip(failed_and_good, ("failed.h5", "good.h5"), strict=True):
        io.write_result(tmp_path / name, res, counts_crystal.intensity, counts_crystal.mask)
        back = io.read_result(tmp_path / name)
        assert back.quality == res.quality
        with h5py.File(tmp_path / name) as f:
            attrs = f["exchange/quality"].attrs
            assert bool(attrs["ok"]) is res.quality.ok
            assert attrs["summary"] == str(res.quality)
            assert Verdict.from_dict(json.loads(attrs["verdict"])).reasons == \
                res.quality.reasons


def _red_pixels(png) -> int:
    """Pixels of the failure banner's red (#c00000) in the top fifth of a PNG."""
    img = mpimg.imread(png)[..., :3]
    top = img[: img.shape[0] // 5]
    return int(np.sum((np.abs(top[..., 0] - 0xC0 / 255) < 0.02) & (top[..., 1] < 0.02)
                      & (top[..., 2] < 0.02)))


def test_the_report_shows_a_failure_and_quotes_no_resolution(tmp_path, failed_and_good,
                                                              counts_crystal):
    failed, good = failed_and_good
    geom = io.Geometry(wavelength=1.5498e-10, distance=5.0, pixel_size=75e-6)
    files = {}
    for res, name in ((failed, "failed"), (good, "good")):
        files[name] = report.save_report(res, counts_crystal.intensity, counts_crystal.mask,
                                         tmp_path / name, geom)
    for key in ("best", "chi2", "prtf"):
        assert _red_pixels(files["failed"][key]) > 2000, key
        assert _red_pixels(files["good"][key]) == 0, key
    bad = json.loads(files["failed"]["summary"].read_text())
    ok = json.loads(files["good"]["summary"].read_text())
    assert bad["quality"]["ok"] is False and bad["resolution_wprtf_1_over_e"] is None
    assert ok["quality"]["ok"] is True and ok["resolution_wprtf_1_over_e"]["nm"] > 0


def test_the_prtf_figure_has_a_title_and_the_convre_unit(monkeypatch, tmp_path):
    from cdi_plugins.convre import report as convre_report

    seen = []

    def keep(fig, path):
        seen.append((fig.axes[0].get_title(), fig.axes[0].get_xlabel()))

    monkeypatch.setattr(report, "save_figure", keep)
    monkeypatch.setattr(convre_report, "save_figure", keep)
    q = np.linspace(0, 0.5, 33)
    curve = np.exp(-q / 0.2)
    report.plot_prtf(q, {"PRTF": curve}, tmp_path / "a.png", pixel_nm=40.0)
    convre_report.plot_methods_prtf(q, {"m": curve}, {"m": curve}, tmp_path / "b.png",
                                    pixel_nm=40.0)
    (title, xlabel), (_, convre_xlabel) = seen
    assert "PRTF" in title
    assert xlabel == convre_xlabel == "spatial frequency (1/um)"



def test_runs_alike_but_not_the_same_image_pass_with_a_note_and_a_warning(caplog):
    import logging

    from cdi_plugins.phasing.verdict import N_CLOSE, SAME_IMAGE, judge

    sim = simulate.simulate_pattern(simulate.crystal_object(64, seed=0), photons=None)
    obj = sim.object
    rng = np.random.default_rng(0)
    # the same crystal shifted by half a pixel: one image (a Fourier phase ramp)
    q = np.fft.fftfreq(64)
    ramp = np.exp(-2j * np.pi * 0.5 * (q[:, None] + q[None, :]))
    shifted = np.fft.ifft2(np.fft.fft2(obj) * ramp)
    same = _result([obj, shifted, shifted, shifted])
    v = assess(same, sim.intensity)
    assert v.ok and v.reproduced is True and len(v.close_distances) == N_CLOSE
    assert min(v.close_distances) < 0.01
    assert not any("not reproduced" in n for n in v.notes)
    # other amplitudes inside the crystal, up to a half off: the coarse check says "found"
    # (below AGREE_DISTANCE), the sub-pixel one that no run holds the best's details
    inside = np.abs(obj) > 0
    bumpy = [obj * (1 + inside * (rng.random(obj.shape) - 0.5)) for _ in range(3)]
    alike = _result([obj, *bumpy])
    with caplog.at_level(logging.WARNING, logger="cdi_plugins.phasing.verdict"):
        v = judge(alike, sim.intensity, default_box=False).quality
    assert v.ok and v.n_agree == 3 and max(v.distances) < AGREE_DISTANCE
    assert v.reproduced is False and min(v.close_distances) > SAME_IMAGE
    assert any(n.startswith("the best run's details are not reproduced") for n in v.notes)
    assert "phase again with other seeds" in caplog.text
    # recorded with the verdict
    assert Verdict.from_dict(json.loads(json.dumps(v.to_dict()))).reproduced is False


def test_the_report_draws_an_amber_banner_when_details_are_not_reproduced(tmp_path):
    from cdi_plugins.phasing.report import UNREPRODUCED_AMBER
    from cdi_plugins.phasing.verdict import judge

    sim = simulate.simulate_pattern(simulate.crystal_object(64, seed=0), photons=None)
    obj = sim.object
    rng = np.random.default_rng(0)
    inside = np.abs(obj) > 0
    alike = _result([obj, *(obj * (1 + inside * (rng.random(obj.shape) - 0.5))
                            for _ in range(3))])
    same = _result([obj] * 4)
    amber = np.array([int(UNREPRODUCED_AMBER[i:i + 2], 16) / 255 for i in (1, 3, 5)])

    def amber_pixels(png) -> int:
        top = mpimg.imread(png)[..., :3]
        top = top[: top.shape[0] // 5]
        return int(np.sum(np.all(np.abs(top - amber) < 0.02, axis=-1)))

    for res in (alike, same):
        judge(res, sim.intensity, default_box=False)
    files = {name: report.save_report(res, sim.intensity, sim.mask, tmp_path / name)
             for res, name in ((alike, "alike"), (same, "same"))}
    assert alike.quality.ok and alike.quality.reproduced is False
    assert same.quality.ok and same.quality.reproduced is True
    for key in ("best", "chi2", "prtf"):
        assert amber_pixels(files["alike"][key]) > 2000, key
        assert amber_pixels(files["same"][key]) == 0, key
        assert _red_pixels(files["alike"][key]) == 0, key
    summary = json.loads(files["alike"]["summary"].read_text())
    assert summary["quality"]["reproduced"] is False
