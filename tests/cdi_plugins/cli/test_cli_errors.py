"""cdi-plugins: any error is one line on stderr naming the file; exit 2 for bad input,
130 for Ctrl-C, 1 (traceback behind --debug) for an internal error."""

import h5py
import numpy as np
import pytest

from cdi_plugins import cli, io
from cdi_plugins.cli import phasing


def run(argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    return exc.value.code


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    return lines[0]


def _cxi(path, data):
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = data
    return path


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.cxi"
    io.write_cxi(good, np.ones((16, 16), np.float32))
    bad = {"text": b"not hdf5\n" * 50, "truncated": good.read_bytes()[:2000]}
    for name, content in bad.items():
        (tmp_path / f"{name}.cxi").write_bytes(content)
    text, truncated = tmp_path / "text.cxi", tmp_path / "truncated.cxi"
    layout = tmp_path / "layout.h5"
    with h5py.File(layout, "w") as f:
        f["entry/data"] = np.ones((16, 16))
    return {
        "dir": tmp_path, "text": text, "truncated": truncated, "layout": layout,
        "good": good, "out": tmp_path / "out.h5",
        "rank1": _cxi(tmp_path / "rank1.cxi", np.ones(16)),
        "rank4": _cxi(tmp_path / "rank4.cxi", np.ones((1, 1, 16, 16))),
        "strings": _cxi(tmp_path / "strings.cxi", np.array([b"a", b"b"])),
        "complex": _cxi(tmp_path / "complex.cxi", np.ones((16, 16), np.complex64)),
    }


CASES = {
    "phase a folder": ["phase", "{dir}"],
    "phase non-HDF5": ["phase", "{text}"],
    "phase truncated": ["phase", "{truncated}"],
    "phase 1-D data": ["phase", "{rank1}"],
    "phase 4-D data": ["phase", "{rank4}"],
    "phase string data": ["phase", "{strings}"],
    "phase complex data": ["phase", "{complex}"],
    "phase iter 0": ["phase", "{good}", "--iters", "0", "--algorithm", "er"],
    "phase iter -5": ["phase", "{good}", "--iters", "-5", "--algorithm", "er"],
    "cnn train non-HDF5": ["cnn", "train", "{text}", "-o", "{out}"],
    "cnn train truncated": ["cnn", "train", "{truncated}", "-o", "{out}"],
    "cnn train a pattern": ["cnn", "train", "{good}", "-o", "{out}"],
    "cnn evaluate non-HDF5": ["cnn", "evaluate", "{text}"],
    "cnn evaluate truncated": ["cnn", "evaluate", "{truncated}"],
    "cnn predict a folder": ["cnn", "predict", "{dir}"],
    "cnn make-dataset non-HDF5": ["cnn", "make-dataset", "{text}", "--seed", "1"],
    "cnn make-dataset a pattern": ["cnn", "make-dataset", "{good}", "--seed", "1"],
    "simulate into a folder": ["simulate", "-o", "{dir}", "--size", "16"],
    "cluster non-HDF5": ["cluster", "{text}"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_file_with_exit_2(files, capsys, case):
    argv = [a.format(**files) for a in CASES[case]]
    assert run(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith("cdi-plugins "), err
    if "iter" not in case:
        assert any(str(v.name) in err for v in files.values()), err


def test_wrong_layout_names_both_layouts(files, capsys):
    assert run(["phase", str(files["layout"])]) == 2
    err = one_line(capsys.readouterr().err)
    assert "CXI" in err and "Data Exchange" in err and "layout.h5" in err


def test_iter_zero_is_refused_naming_n_iter(files, capsys):
    assert run(["phase", str(files["good"]), "--iters", "0", "--algorithm", "er"]) == 2
    assert "n_iter must be a positive integer" in capsys.readouterr().err


def test_ctrl_c_is_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(phasing, "cmd_plugins", interrupted)  # bound when main builds the parser
    assert run(["plugins"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_internal_error_is_exit_1_with_the_traceback_behind_debug(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(phasing, "cmd_plugins", broken)
    assert run(["plugins"]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err
    assert run(["plugins", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_simulate_writes_pattern_and_truth_in_one_atomic_step(tmp_path, monkeypatch):
    out = tmp_path / "p.cxi"
    assert cli.main(["simulate", "-o", str(out), "--size", "32", "--photons", "0"]) == 0
    with h5py.File(out) as f:
        assert f["entry_1/sample_1/simulated_object"].shape == (32, 32)
    # the command writes nothing in place after the rename
    monkeypatch.setattr(h5py, "File", None)
    monkeypatch.setattr(io, "write_cxi", lambda *a, **k: None)
    assert cli.main(["simulate", "-o", str(tmp_path / "q.cxi"), "--size", "32"]) == 0


def test_read_only_output_is_refused_unless_overwrite(tmp_path, capsys):
    import os

    out = tmp_path / "p.cxi"
    out.write_bytes(b"old")
    os.chmod(out, 0o444)
    assert run(["simulate", "-o", str(out), "--size", "32"]) == 2
    assert "read-only" in one_line(capsys.readouterr().err)
    assert cli.main(["--overwrite", "simulate", "-o", str(out), "--size", "32"]) == 0
    assert out.read_bytes() != b"old"
