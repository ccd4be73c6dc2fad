"""The output guard every writer goes through (issue 25): an output never replaces an
input (by device and inode: links count), only regular files are written, the folder
must be writable before any work, long names keep their temporary names within the
file system's limit, and a full disk is one line and exit 2 with nothing lost."""

import collections
import errno
import os
import shutil
import socket
import stat
import subprocess

import h5py
import numpy as np
import pytest

import tomopy_dlalign as tda
from cdi_plugins import cli as cdi_cli
from cdi_plugins import io as cdi_io
from tomopy_dlalign import cli, io
from tomopy_dlalign.common import outputs
from tomopy_dlalign.common.outputs import DiskFullError, OutputIsInputError
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset

STACK = np.ones((2, 3, 8), np.float32)
MAKE_DATASET = ["--volumes", "4", "--families", "battery", "--size", "32", "--nslice", "8",
                "--nproj", "16"]
FIELDS = ("pairs", "targets", "volume", "family", "noise")


@pytest.fixture
def scan(tmp_path):
    """A small scan of line integrals, and its bytes."""
    path = tmp_path / "scan.h5"
    theta = np.linspace(0, np.pi, 8, endpoint=False)
    io.write_dx(path, np.ones((8, 2, 16), np.float32), theta=theta, data_units="1/pixel",
                state="line_integrals")
    return path, path.read_bytes()


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1, err
    return err[0]


# --- an output is never one of the inputs ------------------------------------------------


@pytest.mark.parametrize("how", ["same name", "./ prefix", "output is a symlink to the input",
                                 "input is a symlink to the output", "hard link"])
def test_recon_refuses_an_output_that_is_its_input_and_leaves_it_intact(scan, tmp_path,
                                                                        monkeypatch, capsys,
                                                                        how):
    path, before = scan
    monkeypatch.chdir(tmp_path)
    given, output = "scan.h5", "scan.h5"
    if how == "./ prefix":
        output = "./scan.h5"
    elif how == "output is a symlink to the input":
        os.symlink("scan.h5", "link.h5")
        output = "link.h5"
    elif how == "input is a symlink to the output":
        os.symlink("scan.h5", "link.h5")
        given = "link.h5"
    elif how == "hard link":
        os.link("scan.h5", "hard.h5")
        output = "hard.h5"
    assert cli.main(["recon", given, "--algorithm", "fbp", "-o", output]) == 2
    line = _one_line(capsys)
    assert "is the input" in line and given in line and os.path.normpath(output) in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_align_refuses_its_input_as_output(scan, capsys):
    path, before = scan
    assert cli.main(["align", str(path), "-o", str(path)]) == 2
    assert "is the input" in _one_line(capsys)
    assert path.read_bytes() == before


def test_cdi_phase_refuses_its_pattern_as_output(tmp_path, capsys):
    pattern = tmp_path / "pat.cxi"
    cdi_io.write_cxi(pattern, np.ones((16, 16), np.float32))
    before = pattern.read_bytes()
    with pytest.raises(SystemExit) as exit_:
        cdi_cli.main(["phase", str(pattern), "--runs", "1", "-o", str(pattern)])
    assert exit_.value.code == 2
    assert "is the input" in _one_line(capsys) and pattern.read_bytes() == before


def test_recon_to_another_file_still_works(scan, tmp_path):
    path, before = scan
    assert cli.main(["recon", str(path), "--algorithm", "fbp", "-o",
                     str(tmp_path / "rec.h5")]) == 0
    assert tda.io.read_dx(tmp_path / "rec.h5")[0].shape == (2, 16, 16)
    assert path.read_bytes() == before


def test_reading_declares_inputs_for_every_writer_and_only_within_the_block(tmp_path):
    src = tmp_path / "in.h5"
    io.write_dx(src, STACK)
    with outputs.reading([src]):
        with pytest.raises(OutputIsInputError, match="in.h5"):
            io.write_dx(src, STACK * 2)
        io.write_dx(tmp_path / "other.h5", STACK)        # another file is fine
    io.write_dx(src, STACK * 3)                           # outside the block: an update
    assert io.read_dx(src)[0].max() == 3


# --- regular files only -------------------------------------------------------------------


def test_a_fifo_as_output_is_refused_and_stays_a_fifo(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert cli.main(["simulate", "-o", str(fifo), "--size", "16", "--nproj", "4"]) == 2
    assert "FIFO" in _one_line(capsys) and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_dev_null_and_a_socket_are_refused_before_anything_is_written(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'/dev/null' is a character device"):
        outputs.output_target("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    monkeypatch.chdir(tmp_path)  # a short path: socket names are limited to 107 bytes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
        with pytest.raises(ValueError, match="a socket"):
            io.write_dx("sock", STACK)
    assert stat.S_ISSOCK(os.stat("sock").st_mode)


# --- a writable folder, checked before the work ------------------------------------------


def test_an_unwritable_folder_is_refused_before_the_scan_is_read(scan, tmp_path, monkeypatch,
                                                                 capsys):
    path, _ = scan
    folder = tmp_path / "results"
    folder.mkdir()
    real = os.access
    # root writes everywhere: as root the refusal is the OS's answer for a read-only folder
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False
                        if os.path.abspath(p) == str(folder) else real(p, mode, *a, **k))

    def read_nothing(*args, **kwargs):
        raise AssertionError("the scan was read before the output was checked")

    monkeypatch.setattr(tda.io, "read", read_nothing)
    assert cli.main(["recon", str(path), "-o", str(folder / "rec.h5")]) == 2
    line = _one_line(capsys)
    assert "no write permission" in line and str(folder) in line


# --- names at the file system's limit -----------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 250 + ".h5", "é" * 126 + ".h5"])
def test_an_output_name_at_the_limit_is_written_with_shorter_temporaries(tmp_path, name):
    out = tmp_path / name
    assert len(os.fsencode(name)) in (253, 255)
    with outputs.atomic_output(out) as tmp:
        seen = [p.name for p in tmp_path.iterdir()]   # the lock and the temporary
        tmp.write_bytes(b"x")
    assert all(len(os.fsencode(n)) <= 255 for n in seen) and len(seen) == 2
    io.write_dx(out, STACK)
    assert io.read_dx(out)[0].shape == STACK.shape
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_long_names_keep_one_lock_per_output_and_lose_stale_temporaries(tmp_path):
    out = tmp_path / ("b" * 253)
    with outputs.atomic_output(out) as tmp:
        stale = tmp.with_name(tmp.name[:-12] + "zzzzzzzz.tmp")   # as a killed writer leaves
        with pytest.raises(outputs.OutputBusyError, match="another process"):
            io.write_dx(out, STACK)
    stale.write_bytes(b"half")
    io.write_dx(out, STACK)
    assert not stale.exists()


def test_a_name_longer_than_the_file_system_allows_is_one_clear_error(tmp_path):
    with pytest.raises(OSError, match="256 bytes long.*allows 255") as exc:
        io.write_dx(tmp_path / ("c" * 256), STACK)
    assert exc.value.errno == errno.ENAMETOOLONG


# --- a full disk --------------------------------------------------------------------------


def _small_disk(free: int):
    usage = collections.namedtuple("usage", "total used free")
    return lambda path: usage(10 * free, 9 * free, free)


def _content(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in FIELDS}


def test_make_dataset_on_a_full_disk_stops_in_one_line_and_resumes(tmp_path, monkeypatch,
                                                                    capsys):
    out = tmp_path / "d.h5"
    monkeypatch.setattr(shutil, "disk_usage", _small_disk(20_000))
    assert cli.main(["make-dataset", "-o", str(out), *MAKE_DATASET]) == 2
    line = _one_line(capsys)
    assert "d.h5" in line and "needed" in line and "19.5 KiB free" in line
    with h5py.File(out, "r") as f:                   # the skeleton: whole, nothing counted
        assert f.attrs["done"] == 0
    monkeypatch.undo()
    assert cli.main(["make-dataset", "-o", str(out), *MAKE_DATASET]) == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["done"] == 4 and len(f["pairs"]) == 4 * 16


def test_a_copy_that_cannot_fit_is_refused_before_writing(tmp_path, monkeypatch):
    src = tmp_path / "big.h5"
    io.write_dx(src, np.ones((8, 8, 64), np.float32))
    monkeypatch.setattr(shutil, "disk_usage", _small_disk(1000))
    with pytest.raises(DiskFullError, match=r"out.h5.*KiB needed, 1000 bytes free"):
        io.write_dx(tmp_path / "out.h5", STACK, template=src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]


@pytest.mark.parametrize("writer", ["write_dx", "write_nxtomo", "write_cxi"])
def test_writers_that_know_their_size_refuse_a_disk_too_small_before_writing(
        tmp_path, monkeypatch, writer):
    from cdi_plugins.io import write_cxi

    stack = np.ones((16, 32, 64), np.float32)              # 128 KiB
    monkeypatch.setattr(shutil, "disk_usage", _small_disk(20_000))
    write = {"write_dx": lambda p: io.write_dx(p, stack),
             "write_nxtomo": lambda p: io.write_nxtomo(p, stack, theta=np.zeros(16)),
             "write_cxi": lambda p: write_cxi(p, np.ones((128, 128), np.float32))}[writer]
    with pytest.raises(DiskFullError, match=r"out.h5.*needed"):
        write(tmp_path / "out.h5")
    assert list(tmp_path.iterdir()) == []


class _ClosedLater:
    """What h5py does when a chunk cannot be written as a dataset closes: it can only
    report the error as unraisable."""

    def __del__(self):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("how", ["raised", "reported while closing"])
def test_a_full_disk_while_writing_leaves_the_old_file(tmp_path, how):
    out = tmp_path / "out.h5"
    out.write_bytes(b"old")
    with pytest.raises(DiskFullError, match="out.h5.*is full.*was not written"):
        with outputs.atomic_output(out) as tmp:
            tmp.write_bytes(b"half")
            if how == "raised":
                raise OSError(errno.ENOSPC, "No space left on device")
            _ClosedLater()
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 400 KiB tmpfs (root, and a mount that works, only)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_make_dataset_onto_a_real_full_disk_stops_cleanly_and_resumes(tiny_filesystem,
                                                                       tmp_path, capsys):
    out = tiny_filesystem / "d.h5"
    args = ["--volumes", "8", "--families", "battery", "--size", "32", "--nslice", "16",
            "--nproj", "31", "--no-progress"]
    assert cli.main(["make-dataset", "-o", str(out), *args]) == 2
    line = _one_line(capsys)
    assert "d.h5" in line and "needed" in line and "free" in line and "resume" in line
    moved = tmp_path / "d.h5"
    shutil.copyfile(out, moved)                       # to a roomy disk, as a user would
    with h5py.File(moved, "r") as f:
        assert 0 < f.attrs["done"] < 8
    assert cli.main(["make-dataset", "-o", str(moved), *args]) == 0
    cfg = DatasetConfig(n_volumes=8, families=("battery",), size=32, nslice=16, nproj=31)
    reference = _content(make_dataset(tmp_path / "ref.h5", cfg))
    assert all(np.array_equal(_content(moved)[n], reference[n]) for n in FIELDS)
