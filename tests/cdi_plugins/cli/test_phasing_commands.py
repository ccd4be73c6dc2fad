"""The cdi-plugins command line: simulate -> phase -> report, list, errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from cdi_plugins import cli, io


def test_simulate_then_phase_writes_result_and_report(tmp_path, capsys):
    pattern = tmp_path / "pattern.cxi"
    assert cli.main(["simulate", "-o", str(pattern), "--size", "64", "--photons", "1e7",
                     "--beamstop", "1", "--seed", "2"]) == 0
    I, mask = io.read_cxi(pattern)
    assert I.shape == (64, 64) and mask.sum() == 5
    assert io.read_cxi_geometry(pattern) is not None
    out, rep = tmp_path / "result.h5", tmp_path / "report"
    assert cli.main(["phase", str(pattern), "--algorithm", "(HIO**30*ER**10)**2", "--runs", "3",
                     "--constraint", "positive", "--no-progress", "-o", str(out),
                     "--report", str(rep)]) == 0
    res = io.read_result(out)
    assert res.objects.shape == (3, 64, 64) and res.chi2.shape == (3, 80)
    for name in ("best.png", "chi2.png", "prtf.png"):
        assert (rep / name).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["resolution_wprtf_1_over_e"]["nm"] > 0
    assert "wPRTF resolution" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert np.array_equal(f["exchange/data"][()], I)


def _crystal(tmp_path):
    pattern = tmp_path / "crystal.cxi"
    assert cli.main(["simulate", "-o", str(pattern), "--object", "crystal", "--size", "64",
                     "--photons", "1e6", "--beamstop", "1", "--seed", "0"]) == 0
    return pattern


def test_a_failed_phasing_prints_its_verdict_and_no_resolution(tmp_path, capsys):
    pattern = _crystal(tmp_path)
    out, rep = tmp_path / "result.h5", tmp_path / "report"
    # positivity cannot fit a strong-phase crystal: the runs do not converge
    assert cli.main(["phase", str(pattern), "--algorithm", "oss", "--iters", "300", "--runs",
                     "4", "--constraint", "positive", "--no-progress", "-o", str(out),
                     "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "FAILED: the best run misfits the data" in printed
    assert "no resolution is quoted" in printed and "resolution (1/e) =" not in printed
    assert "hint:" in printed and "constraint='none'" in printed
    assert io.read_result(out).quality.ok is False
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["resolution_wprtf_1_over_e"] is None
    assert summary["quality"]["ok"] is False


def test_the_default_constraint_phases_a_crystal_and_a_real_object(tmp_path, capsys):
    pattern = _crystal(tmp_path)
    assert cli.main(["phase", str(pattern), "--algorithm", "oss", "--iters", "300", "--runs",
                     "4", "--no-progress", "-o", str(tmp_path / "x.h5")]) == 0
    printed = capsys.readouterr().out
    assert "wPRTF resolution (1/e) =" in printed and "quality OK" in printed
    assert io.read_result(tmp_path / "x.h5").parameters["constraint"] == "none"
    bio = tmp_path / "bio.cxi"
    assert cli.main(["simulate", "-o", str(bio), "--size", "64", "--photons", "1e6",
                     "--beamstop", "1", "--seed", "1"]) == 0
    assert cli.main(["phase", str(bio), "--algorithm", "oss", "--iters", "300", "--runs", "4",
                     "--no-progress", "-o", str(tmp_path / "b.h5")]) == 0
    assert "quality OK" in capsys.readouterr().out
    assert io.read_result(tmp_path / "b.h5").parameters["constraint"] == "positive"


def test_list_shows_builtin_algorithms(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "oss" in out and "cdi_plugins" in out


def test_bad_input_file_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["phase", str(tmp_path / "nope.cxi")])
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_phase_records_the_low_resolution_start_and_can_go_without(tmp_path):
    pattern = tmp_path / "p.cxi"
    assert cli.main(["simulate", "-o", str(pattern), "--size", "32", "--photons", "1e7",
                     "--beamstop", "1", "--seed", "4"]) == 0
    lowres = {}
    for name, extra in (("default", []), ("without", ["--no-low-resolution"]),
                        ("convre", ["--protocol", "convre"])):
        out = tmp_path / f"{name}.h5"
        assert cli.main(["phase", str(pattern), "--runs", "1", "--no-progress", "-o", str(out),
                         *extra]) == 0
        lowres[name] = io.read_result(out).parameters["low_resolution"]
    assert lowres["default"]["width"] == 0.125
    assert lowres["without"] is None and lowres["convre"] is None
