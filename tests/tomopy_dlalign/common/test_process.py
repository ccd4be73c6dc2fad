"""The /process record: one schema, written by every writer, read back by every reader."""

import json
import logging

import h5py
import numpy as np
import pytest

import tomopy_dlalign as tda
from cdi_plugins import io as cdi_io
from cdi_plugins.phasing import phase_retrieval
from tomopy_dlalign.common.process import (
    SCHEMA,
    STATES,
    check_state,
    copy_history,
    read_process,
    record_step,
    state_of,
)

THETA = np.linspace(0, np.pi, 6, endpoint=False)
STACK = np.ones((6, 2, 8), np.float32)


def test_steps_are_numbered_in_order_and_the_state_is_the_last_steps(tmp_path):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f["exchange/shift_x"] = np.arange(3.0)
        record_step(f, "simulate", "raw", {"size": 8, "theta": THETA[:2]})
        record_step(f, "demo align", "aligned", {"iters": 1}, model="net",
                    source="in.h5", links=["/exchange/shift_x"])
    with h5py.File(path) as f:
        assert sorted(f["process/steps"]) == ["00_simulate", "01_demo_align"]
        assert f["process/state"][()].decode() == "aligned"
        assert f["process/state"].attrs["schema"] == SCHEMA
        # the step keeps its shifts even if a later step replaces the file's own
        assert f["process/steps/01_demo_align/shift_x"].id == f["exchange/shift_x"].id
    rec = read_process(path)
    assert rec.state == "aligned" and rec.recorded and not rec.inferred
    first, second = rec.steps
    assert (first.index, first.name, first.state) == (0, "simulate", "raw")
    assert first.parameters["theta"] == pytest.approx(THETA[:2].tolist())
    assert (second.name, second.model, second.input, second.datasets) == (
        "demo_align", "net", "in.h5", ("shift_x",))
    assert rec.step("demo_align") is second and rec.step("recon") is None
    assert second.package == "tomopy_dlalign" and second.version and "T" in second.time


def test_an_unknown_state_is_refused_naming_the_argument(tmp_path):
    with pytest.raises(ValueError, match="state must be one of raw, normalized"):
        check_state("aligned-twice")
    with h5py.File(tmp_path / "a.h5", "w") as f, pytest.raises(ValueError, match="step"):
        record_step(f, "  ", "raw")
    with pytest.raises(ValueError, match="state must be one of"):
        tda.io.write_dx(tmp_path / "b.h5", STACK, state="cooked")


def test_history_carries_the_steps_of_the_input_over(tmp_path):
    src, dst = tmp_path / "src.h5", tmp_path / "dst.h5"
    with h5py.File(src, "w") as f:
        record_step(f, "simulate", "raw")
        record_step(f, "align", "aligned")
    with h5py.File(dst, "w") as f:
        assert copy_history(f, src) == 2
        record_step(f, "recon", "reconstruction")
    rec = read_process(dst)
    assert [s.name for s in rec.steps] == ["simulate", "align", "recon"]
    assert rec.state == "reconstruction"
    with h5py.File(dst, "a") as f:
        assert copy_history(f, tmp_path / "missing.h5") == 0


def test_a_file_without_a_record_is_raw_and_the_assumption_is_logged(tmp_path, caplog):
    path = tmp_path / "beamline.h5"
    with h5py.File(path, "w") as f:
        f["exchange/data"] = np.ones((4, 2, 8), np.uint16)
        f["exchange/data_white"] = np.ones((1, 2, 8), np.uint16)
        f["exchange/theta"] = np.linspace(0, 180, 4, endpoint=False)
    rec = read_process(path)
    assert rec.state is None and not rec.recorded
    with caplog.at_level(logging.INFO):
        scan = tda.io.read(path)
    assert scan.state == "raw" and scan.process is None
    assert "records no processing state" in caplog.text
    assert "treating its data as raw" in caplog.text
    with caplog.at_level(logging.INFO):
        assert state_of(rec, "pattern") == "pattern"


def test_outputs_of_earlier_versions_are_recognised_by_their_provenance(tmp_path):
    path = tmp_path / "old_aligned.h5"
    with h5py.File(path, "w") as f:
        f.create_group("process/tomopy_dlalign").attrs["parameters"] = json.dumps(
            {"command": "align"})
    rec = read_process(path)
    assert (rec.state, rec.inferred) == ("aligned", True)


def test_write_dx_records_the_state_it_is_given_or_infers_it(tmp_path):
    cases = {"raw": {}, "line_integrals": {"data_units": "1/pixel", "theta": THETA},
             "reconstruction": {"data_units": "1/pixel"},
             "normalized": {"data_units": "1", "theta": THETA, "state": "normalized"}}
    for state, kwargs in cases.items():
        path = tmp_path / f"{state}.h5"
        tda.io.write_dx(path, STACK, **kwargs)
        assert read_process(path).state == state
    tda.io.write_dx(tmp_path / "s.h5", STACK, theta=THETA, parameters={"command": "simulate"})
    assert read_process(tmp_path / "s.h5").steps[0].name == "simulate"


def test_write_dx_with_a_template_appends_to_the_templates_steps(tmp_path):
    raw = tmp_path / "raw.h5"
    tda.io.write_dx(raw, STACK, flat=STACK[:1], theta=THETA, step="simulate")
    out = tmp_path / "aligned.h5"
    tda.io.write_dx(out, STACK, theta=THETA, data_units="1/pixel", template=raw,
                    extras={"shift_x": (np.zeros(6), "pixel")}, state="aligned", step="align")
    rec = read_process(out)
    assert [(s.name, s.state) for s in rec.steps] == [("simulate", "raw"), ("align", "aligned")]
    assert rec.steps[1].datasets == ("shift_x",) and rec.steps[1].input == str(raw)
    assert read_process(raw).state == "raw"  # the input is untouched


def test_every_reader_exposes_the_state_on_the_scan(tmp_path):
    tda.io.write_nxtomo(tmp_path / "a.nx", STACK, theta=THETA)
    assert tda.io.read(tmp_path / "a.nx").state == "raw"
    tda.io.write_nxtomo(tmp_path / "b.nx", STACK, theta=THETA, state="line_integrals")
    scan = tda.io.read(tmp_path / "b.nx")
    assert scan.state == "line_integrals" and scan.process.steps[0].name == "write_nxtomo"
    tda.io.write_dx(tmp_path / "c.h5", STACK, theta=THETA, state="aligned")
    assert "state='aligned'" in repr(tda.io.read(tmp_path / "c.h5"))


def test_diffraction_files_are_patterns_and_phasing_results_phased(tmp_path):
    intensity = np.ones((16, 16), np.float32)
    cdi_io.write_cxi(tmp_path / "p.cxi", intensity, step="simulate")
    rec = read_process(tmp_path / "p.cxi")
    assert rec.state == "pattern" and rec.steps[0].package == "cdi_plugins"
    cdi_io.write_dx(tmp_path / "p.h5", intensity)
    assert read_process(tmp_path / "p.h5").state == "pattern"
    res = phase_retrieval(intensity, algorithm="ER**2", n_runs=1, seed=0, free_fraction=0,
                          show_progress=False)
    cdi_io.write_result(tmp_path / "r.h5", res, intensity, history=tmp_path / "p.cxi")
    rec = read_process(tmp_path / "r.h5")
    assert rec.state == "phased"
    assert [s.name for s in rec.steps] == ["simulate", "phase"]
    assert rec.steps[1].parameters["schedule"] == res.schedule
    with pytest.raises(ValueError, match="holds .*diffraction.*not a tomographic scan"):
        tda.io.read(tmp_path / "r.h5")


def test_every_state_is_documented():
    assert set(STATES) == {"raw", "normalized", "line_integrals", "aligned", "reconstruction",
                           "pattern", "phased"}
    assert all(STATES.values())
