"""Every writer's safety: permissions from the umask, read-only outputs refused, links
written through, one writer at a time, unique temporary names."""

import os
import stat
import threading

import numpy as np
import pytest

from cdi_plugins import io as cdi_io
from tomopy_dlalign import io
from tomopy_dlalign.common import outputs
from tomopy_dlalign.common.modelfiles import atomic_path
from tomopy_dlalign.models.jitternet import JitterNet, JitterNetConfig, load_model, save_model

STACK = np.ones((2, 3, 8), np.float32)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield
    os.umask(old)


WRITERS = {
    "dx": lambda p: io.write_dx(p, STACK),
    "tiff": lambda p: io.write_tiff_stack(p, STACK),
    "nxtomo": lambda p: io.write_nxtomo(p, STACK, theta=np.array([0.0, 1.0])),
    "cxi": lambda p: cdi_io.write_cxi(p, np.ones((8, 8), np.float32)),
    "weights": lambda p: save_model(JitterNet(JitterNetConfig(widths=(4, 4, 4))), p),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_outputs_get_the_umask_permissions_new_and_overwritten(tmp_path, umask_002, kind):
    out = tmp_path / f"out.{kind}"
    WRITERS[kind](out)
    assert _mode(out) == 0o664
    os.chmod(out, 0o660)
    WRITERS[kind](out)  # overwriting no longer turns a shared file into 0600
    assert _mode(out) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporaries, no lock


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_read_only_output_is_refused_unless_overwrite(tmp_path, kind):
    out = tmp_path / f"out.{kind}"
    out.write_bytes(b"keep me")
    os.chmod(out, 0o444)
    with pytest.raises(PermissionError, match="read-only.*--overwrite"):
        WRITERS[kind](out)
    assert out.read_bytes() == b"keep me"
    with outputs.overwriting():
        WRITERS[kind](out)
    assert out.read_bytes() != b"keep me"


def test_overwrite_argument_replaces_a_read_only_file(tmp_path):
    out = tmp_path / "a.h5"
    io.write_dx(out, STACK)
    os.chmod(out, 0o444)
    with pytest.raises(PermissionError):
        io.write_dx(out, STACK * 2)
    io.write_dx(out, STACK * 2, overwrite=True)
    assert io.read_dx(out)[0].max() == 2


def test_symlinked_output_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "store" / "scan.h5"
    target.parent.mkdir()
    io.write_dx(target, STACK)
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    io.write_dx(link, STACK * 3)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert io.read_dx(target)[0].max() == 3


def test_second_writer_of_one_output_fails_with_a_clear_error(tmp_path):
    out = tmp_path / "busy.h5"
    with outputs.output_lock(out):
        with pytest.raises(outputs.OutputBusyError, match="busy.h5.*another process"):
            io.write_dx(out, STACK)
    io.write_dx(out, STACK)  # free again once the first writer is done


def test_each_writer_gets_its_own_temporary_name(tmp_path):
    names = []
    with atomic_path(tmp_path / "a.bin") as t1:
        names.append(t1)
    with atomic_path(tmp_path / "b.bin") as t2, atomic_path(tmp_path / "c.bin") as t3:
        names += [t2, t3]
    assert len(set(names)) == 3 and all(n.name.endswith(".tmp") for n in names)


def test_concurrent_save_model_to_one_path_never_corrupts_it(tmp_path):
    path = tmp_path / "w.safetensors"
    nets = [JitterNet(JitterNetConfig(widths=(4, 4, 4))) for _ in range(4)]
    errors = []

    def save(net):
        try:
            save_model(net, path)
        except outputs.OutputBusyError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) < len(nets)
    load_model(path)  # whichever won, the file is whole
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_temporaries_left_by_a_killed_writer_are_cleaned_by_the_next(tmp_path):
    out = tmp_path / "a.h5"
    stale = tmp_path / ".a.h5.abcd1234.tmp"
    stale.write_bytes(b"half")
    other = tmp_path / ".a.h5.b.abcd1234.tmp"  # another output's: kept
    other.write_bytes(b"x")
    io.write_dx(out, STACK)
    assert not stale.exists() and other.exists()


def test_folder_as_output_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        io.write_dx(tmp_path, STACK)
