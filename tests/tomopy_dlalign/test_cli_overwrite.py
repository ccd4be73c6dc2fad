"""One overwrite policy for both command lines: an existing output is refused with one
line naming --overwrite, before any computation, and left as it was (bytes and mtime);
--overwrite replaces it; the outputs a command resumes are continued instead."""

from __future__ import annotations

import functools
import os

import h5py
import numpy as np
import pytest

import cdi_plugins.cli as cdi_cli
from cdi_plugins.cli import bragg as cdi_bragg
from cdi_plugins.cli import cnn as cdi_cnn
from cdi_plugins.cli import convre as cdi_convre
from cdi_plugins.cli import phasing as cdi_phasing
from cdi_plugins.cli import prepare as cdi_prepare
from tomopy_dlalign import cli, io
from tomopy_dlalign.cli import align, recon, simulate, training

# every command that writes a file, with "{out}" an output that exists already ("{dir}"
# a folder holding files): (id, tool, command module, name of its function, argv)
WRITERS = [
    ("tda-simulate", "tda", simulate, "cmd_simulate", ["simulate", "-o", "{out}"]),
    ("tda-demo", "tda", simulate, "cmd_demo", ["demo", "-o", "{dir}"]),
    ("tda-align", "tda", align, "cmd_align", ["align", "{scan}", "-o", "{out}"]),
    ("tda-align-rows", "tda", align, "cmd_align",
     ["align", "{scan}", "-o", "{out}", "--rows", "0:8"]),
    ("tda-align-report", "tda", align, "cmd_align",
     ["align", "{scan}", "-o", "{new}", "--report", "{dir}"]),
    ("tda-recon", "tda", recon, "cmd_recon", ["recon", "{scan}", "-o", "{out}"]),
    ("tda-make-dataset", "tda", training, "cmd_make_dataset", ["make-dataset", "-o", "{out}"]),
    ("tda-train", "tda", training, "cmd_train", ["train", "{scan}", "-o", "{out}"]),
    ("tda-adapt", "tda", training, "cmd_adapt", ["adapt", "{scan}", "-o", "{out}"]),
    ("cdi-simulate", "cdi", cdi_phasing, "cmd_simulate", ["simulate", "-o", "{out}"]),
    ("cdi-phase", "cdi", cdi_phasing, "cmd_phase", ["phase", "{scan}", "-o", "{out}"]),
    ("cdi-phase-report", "cdi", cdi_phasing, "cmd_phase",
     ["phase", "{scan}", "--report", "{dir}"]),
    ("cdi-demo", "cdi", cdi_phasing, "cmd_demo", ["demo", "-o", "{dir}"]),
    ("cdi-prepare", "cdi", cdi_prepare, "cmd_prepare", ["prepare", "{scan}", "-o", "{out}"]),
    ("cdi-cnn-make-dataset", "cdi", cdi_cnn, "cmd_make_dataset",
     ["cnn", "make-dataset", "-o", "{out}", "--seed", "1"]),
    ("cdi-cnn-train", "cdi", cdi_cnn, "cmd_train", ["cnn", "train", "{scan}", "-o", "{out}"]),
    ("cdi-cnn-evaluate", "cdi", cdi_cnn, "cmd_evaluate",
     ["cnn", "evaluate", "{scan}", "--json", "{out}"]),
    ("cdi-cnn-evaluate-report", "cdi", cdi_cnn, "cmd_evaluate",
     ["cnn", "evaluate", "{scan}", "--report", "{dir}"]),
    ("cdi-cnn-predict", "cdi", cdi_cnn, "cmd_predict", ["cnn", "predict", "{scan}", "-o", "{out}"]),
    ("cdi-cnn-adapt", "cdi", cdi_cnn, "cmd_adapt", ["cnn", "adapt", "{scan}", "-o", "{out}"]),
    ("cdi-cluster", "cdi", cdi_convre, "cmd_cluster", ["cluster", "{scan}", "-o", "{out}"]),
    ("cdi-train-features", "cdi", cdi_convre, "cmd_train_features",
     ["train-features", "-o", "{out}"]),
    ("cdi-bragg", "cdi", cdi_bragg, "cmd_bragg", ["bragg", "{scan}", "-o", "{out}"]),
    ("cdi-bragg-report", "cdi", cdi_bragg, "cmd_bragg",
     ["bragg", "{scan}", "--report", "{dir}"]),
]


def main(tool: str, argv: list[str]) -> int:
    if tool == "tda":
        return cli.main(argv)
    try:
        return cdi_cli.main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def existing(tmp_path):
    """An existing output of each kind, with its bytes and mtime."""
    out = tmp_path / "out.h5"
    out.write_bytes(b"an earlier result\n")
    folder = tmp_path / "earlier"
    folder.mkdir()
    for name in ("scan.h5", "pattern.cxi", "shifts.png", "summary.json"):
        (folder / name).write_bytes(b"an earlier file\n")
    files = [out, *sorted(folder.iterdir())]
    past = 1_000_000_000  # mtimes that a rewrite would change
    for f in files:
        os.utime(f, (past, past))
    return {"out": out, "dir": folder, "scan": tmp_path / "scan.h5",
            "new": tmp_path / "new.h5"}, {f: (f.read_bytes(), f.stat().st_mtime_ns)
                                          for f in files}


def _computing(monkeypatch, module, name):
    """Make the command's own code fail loudly: a refusal must come before it."""
    command = getattr(module, name)

    @functools.wraps(command)  # keeps what the command declares it reads and writes
    def computes(args):
        raise AssertionError(f"{name} ran: the output was not checked before the work")

    monkeypatch.setattr(module, name, computes)


@pytest.mark.parametrize("tool, module, name, argv", [w[1:] for w in WRITERS],
                         ids=[w[0] for w in WRITERS])
def test_an_existing_output_is_refused_before_any_work_and_left_as_it_was(
        existing, monkeypatch, capsys, tool, module, name, argv):
    paths, before = existing
    _computing(monkeypatch, module, name)
    code = main(tool, [a.format(**paths) for a in argv])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(err) == 1 and "error:" in err[0] and "--overwrite" in err[0], err
    assert "exists" in err[0] or "holds files" in err[0], err
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in before} == before


def test_every_command_with_an_output_is_in_the_table_above():
    # a new writer must join the policy's test
    from tomopy_dlalign.common.cli import add_common_options

    tested = {(t, " ".join(a[:2] if a[0] == "cnn" else a[:1])) for _, t, _, _, a in WRITERS}
    for tool, module in (("tda", cli), ("cdi", cdi_cli)):
        top = module.build_parser()
        add_common_options(top)
        for path, sub in _commands(top):
            writes = {s for a in sub._actions for s in a.option_strings} & {
                "-o", "--json", "--report"}
            if writes and len(path) <= 2:
                assert (tool, " ".join(path)) in tested, (tool, path)


def _commands(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name != "list":
                    yield (*path, name), sub
                    yield from _commands(sub, (*path, name))


def test_overwrite_replaces_an_existing_output(tmp_path):
    out = tmp_path / "scan.h5"
    argv = ["simulate", "-o", str(out), "--size", "16", "--nslice", "2", "--nproj", "8"]
    assert cli.main(argv) == 0
    first = out.read_bytes()
    assert cli.main([*argv, "--seed", "1"]) == 2
    assert out.read_bytes() == first
    assert cli.main([*argv, "--seed", "1", "--overwrite"]) == 0
    assert out.read_bytes() != first and io.read(out).state == "raw"


def test_a_read_only_output_needs_overwrite_too(tmp_path, capsys):
    out = tmp_path / "p.cxi"
    out.write_bytes(b"old")
    os.chmod(out, 0o444)
    assert main("cdi", ["simulate", "-o", str(out), "--size", "16"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main("cdi", ["simulate", "-o", str(out), "--size", "16", "--overwrite"]) == 0
    with h5py.File(out) as f:
        assert f["entry_1/sample_1/simulated_object"].shape == (16, 16)


def test_make_dataset_resumes_its_own_file_and_overwrite_makes_it_again(tmp_path, capsys):
    out = tmp_path / "train.h5"
    argv = ["make-dataset", "-o", str(out), "--volumes", "1", "--families", "battery",
            "--size", "32", "--nslice", "8", "--nproj", "16"]
    assert cli.main(argv) == 0
    with h5py.File(out) as f:
        pairs = f["pairs"][()]
    assert cli.main(argv) == 0  # its own file, the same settings: resumed (complete)
    assert cli.main([*argv, "--seed", "5"]) == 2  # other settings: refused
    assert "another configuration" in capsys.readouterr().err
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["pairs"][()], pairs)
    assert cli.main([*argv, "--seed", "5", "--overwrite"]) == 0  # made again
    with h5py.File(out) as f:
        assert f["pairs"].shape == pairs.shape and not np.array_equal(f["pairs"][()], pairs)


def test_train_resumes_beside_its_checkpoint_and_refuses_weights_without_one(tmp_path):
    from argparse import Namespace

    from tomopy_dlalign.common.outputs import check_outputs

    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"best so far")
    args = Namespace(output=str(weights), restart=False, datasets=[], init=None)
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_outputs(training.cmd_train, args)
    weights.with_suffix(".ckpt").write_bytes(b"the run's checkpoint")
    check_outputs(training.cmd_train, args)  # the run resumes: accepted
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_outputs(training.cmd_train, Namespace(**{**vars(args), "restart": True}))


@pytest.mark.parametrize("module", [simulate, cdi_phasing])
def test_a_demo_makes_its_folder_and_refuses_only_the_files_it_would_replace(tmp_path, module):
    from argparse import Namespace

    from tomopy_dlalign.common.outputs import check_outputs

    folder = tmp_path / "new" / "demo_out"
    check_outputs(module.cmd_demo, Namespace(output=str(folder)))  # made by the demo
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("kept")
    check_outputs(module.cmd_demo, Namespace(output=str(folder)))  # nothing to replace
    name = "scan.h5" if module is simulate else "result.h5"
    (folder / name).write_bytes(b"an earlier run")
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_outputs(module.cmd_demo, Namespace(output=str(folder)))


def test_align_into_a_folder_resumes_and_overwrite_aligns_again(tmp_path, capsys):
    import tomopy_dlalign as tda

    theta = np.linspace(0, np.pi, 48, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", 64, 32, seed=3)
    prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -3, 3, seed=3)
    scan, folder = tmp_path / "scan.h5", tmp_path / "aligned"
    io.write_dx(scan, prj, theta=theta, data_units="1/pixel", state="line_integrals")
    folder.mkdir()
    argv = ["align", str(scan), "-o", str(folder), "--no-progress"]
    assert cli.main(argv) == 0
    out = folder / "scan.h5"
    first = (out.read_bytes(), out.stat().st_mtime_ns)
    capsys.readouterr()
    assert cli.main(argv) == 0  # its finished alignment: skipped, as it was
    assert "skipped" in capsys.readouterr().out
    assert (out.read_bytes(), out.stat().st_mtime_ns) == first
    assert cli.main([*argv, "--overwrite"]) == 0  # aligned again
    assert "done" in capsys.readouterr().out and out.stat().st_mtime_ns != first[1]
