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


def test_list_shows_builtin_algorithms(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "oss" in out and "cdi_plugins" in out


def test_bad_input_file_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["phase", str(tmp_path / "nope.cxi")])
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err
