"""tomopy-dlalign: any error is one line on stderr naming the file, with exit code 2 for
bad input, 130 for Ctrl-C and 1 (traceback behind --debug) for an internal error."""

import os

import h5py
import numpy as np
import pytest

from tomopy_dlalign import cli, io
from tomopy_dlalign.cli import about


def one_line(err: str) -> str:
    """The error's line, checking there is one and no traceback (progress bars, which
    rewrite their line with carriage returns, may share stderr)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ": error: " in ln]
    assert len(lines) == 1 and lines[0] == err.strip().replace("\r", "\n").splitlines()[-1]
    return lines[0]


@pytest.fixture
def files(tmp_path):
    scan = tmp_path / "scan.h5"
    assert cli.main(["simulate", str(scan), "--size", "32", "--nslice", "2", "--nproj",
                     "24"]) == 0
    text = tmp_path / "text.h5"
    text.write_text("not hdf5 at all\n" * 20)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(scan.read_bytes()[:3000])
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["something"] = 1
    return {"scan": scan, "text": text, "truncated": truncated, "empty": empty,
            "dir": tmp_path, "out": tmp_path / "out.h5", "w": tmp_path / "w.safetensors"}


# every command that reads a file, given each kind of bad file
READERS = {"recon": ["-o", "{out}"], "align": ["-o", "{out}"],
           "train": ["-o", "{w}", "--epochs", "1"], "make-dataset": ["--volumes", "1"],
           "adapt": ["-o", "{w}"]}
CASES = {f"{cmd} {kind}": [cmd, "{" + kind + "}", *tail]
         for cmd, tail in READERS.items() for kind in ("dir", "text", "truncated")}
CASES |= {
    "recon wrong layout": ["recon", "{empty}", "-o", "{out}"],
    "train a scan": ["train", "{scan}", "-o", "{w}", "--epochs", "1"],
    "make-dataset a scan": ["make-dataset", "{scan}", "--volumes", "1"],
    "recon into a folder": ["recon", "{scan}", "-o", "{dir}", "--algorithm", "fbp"],
    "recon into a missing folder": ["recon", "{scan}", "-o", "{dir}/no/such/out.h5"],
    "centre outside the circle (fbp)": ["recon", "{scan}", "-o", "{out}", "--algorithm",
                                        "fbp", "--center", "60"],
    "centre outside the circle (mlem)": ["recon", "{scan}", "-o", "{out}", "--center", "-30"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_file_with_exit_2(files, capsys, case):
    argv = [a.format(**files) for a in CASES[case]]
    assert cli.main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"tomopy-dlalign {argv[0]}: error: ")
    if "centre" not in case:
        assert any(os.path.basename(str(v)) in err for v in files.values()), err


def test_centre_outside_the_circle_names_the_centre(files, capsys):
    assert cli.main(["recon", str(files["scan"]), "-o", str(files["out"]), "--algorithm",
                     "fbp", "--center", "60"]) == 2
    err = capsys.readouterr().err
    assert "center" in err and "NaN" not in err


def test_read_only_output_is_refused_unless_overwrite(files, capsys):
    out = files["out"]
    io.write_dx(out, np.ones((2, 2, 4), np.float32))
    os.chmod(out, 0o444)
    argv = ["recon", str(files["scan"]), "-o", str(out), "--algorithm", "fbp"]
    assert cli.main(argv) == 2
    assert "read-only" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0
    assert io.read_dx(out)[0].shape == (2, 32, 32)


def test_busy_output_is_one_line(files, capsys):
    from tomopy_dlalign.common.outputs import output_lock

    with output_lock(files["out"]):
        assert cli.main(["recon", str(files["scan"]), "-o", str(files["out"]),
                         "--algorithm", "fbp"]) == 2
    assert "another process" in one_line(capsys.readouterr().err)


def test_internal_error_is_exit_1_with_the_traceback_behind_debug(files, capsys, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(about, "cmd_info", broken)
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" in err and "--debug" in err
    assert cli.main(["--debug", "info"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["info", "--debug"]) == 1  # after the command's name too
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_is_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(about, "cmd_info", interrupted)
    assert cli.main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "tomopy-dlalign: interrupted"


def test_verbose_still_works(capsys):
    assert cli.main(["-v", "plugins"]) == 0


def test_a_radians_theta_is_warned_once_and_the_axis_error_names_theta(tmp_path, capsys,
                                                                        recwarn):
    """A Data Exchange theta written in radians without units is read as degrees (the
    format's unit): the warning says so once, and the error on the absurd axis that
    follows names theta as the likely cause."""
    import h5py
    import numpy as np

    from tomopy_dlalign.cli import main

    scan = tmp_path / "scan.h5"
    assert main(["simulate", "-o", str(scan), "--size", "32", "--nslice", "4",
                 "--nproj", "45"]) == 0
    with h5py.File(scan, "r+") as f:
        radians = np.radians(f["exchange/theta"][...])
        del f["exchange/theta"]
        f["exchange/theta"] = radians
    capsys.readouterr()
    assert main(["align", str(scan), "-o", str(tmp_path / "out.h5")]) == 2
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(line) == 1 and "theta" in line[0] and "units='rad'" in line[0]
    looks = [w for w in recwarn if "looks like radians" in str(w.message)]
    assert len(looks) == 1
    assert not (tmp_path / "out.h5").exists()
