"""HDF5 readers stay inside the scan's own files.

A master file may point at its frames through an external link, a virtual dataset (VDS)
or external storage: followed when the target lies beside the file or below its folder,
refused (one line naming the dataset and the target) when it lies elsewhere, unless
``allow_external=True`` / ``--allow-external``.
"""

import os

import h5py
import numpy as np
import pytest
from h5py import h5d, h5p, h5s, h5t

from tomopy_dlalign import cli, io
from tomopy_dlalign.common.h5files import allowing_external, check_external, open_h5

FRAMES = np.arange(4 * 2 * 8, dtype=np.float32).reshape(4, 2, 8)
THETA_DEG = np.linspace(0, 180, 4, endpoint=False)
KINDS = ["link", "vds", "storage"]


def frames_file(path):
    """An HDF5 file holding the frames at /data, as a detector writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["data"] = FRAMES
    return path


def raw_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    FRAMES.tofile(path)
    return path


@pytest.fixture
def master(h5_reference):
    """``make(path, kind, target)``: a Data Exchange master file whose /exchange/data is an
    external link, a virtual dataset or external storage pointing at ``target`` (a name as
    stored in the file)."""
    def make(path, kind, target):
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            ex = f.create_group("exchange")
            h5_reference(ex, "data", kind, target, "/data" if kind == "link" else "data",
                         FRAMES.shape, FRAMES.dtype)
            ex["theta"] = THETA_DEG
        return path
    return make


def target_for(kind, folder, name="frames"):
    """A data file of the right kind in ``folder``."""
    if kind == "storage":
        return raw_file(folder / f"{name}.raw")
    return frames_file(folder / f"{name}.h5")


@pytest.fixture
def scan_dir(tmp_path):
    return tmp_path / "scan"


@pytest.fixture
def elsewhere(tmp_path):
    return tmp_path / "elsewhere"


# --- followed inside the folder ---------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_master_reads_its_frames_beside_it(kind, scan_dir, master):
    data = target_for(kind, scan_dir)
    # external storage is looked up by HDF5 in the current folder: an absolute name
    name = data if kind == "storage" else data.name
    m = master(scan_dir / "master.h5", kind, name)
    prj, _, _, theta = io.read_dx(m)
    np.testing.assert_array_equal(prj, FRAMES)
    np.testing.assert_allclose(np.rad2deg(theta), THETA_DEG)
    np.testing.assert_array_equal(io.read(m).data, FRAMES)
    np.testing.assert_array_equal(io.read_dx(m, lazy=True)[0][1:3], FRAMES[1:3])


@pytest.mark.parametrize("kind", KINDS)
def test_master_reads_its_frames_below_its_folder(kind, scan_dir, monkeypatch, master):
    data = target_for(kind, scan_dir / "sub" / "deeper")
    monkeypatch.chdir(scan_dir)  # relative external storage: from the current folder
    m = master(scan_dir / "master.h5", kind, "sub/deeper/" + data.name)
    np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)


def test_relative_external_storage_reads_from_the_files_folder(scan_dir, monkeypatch, master):
    raw_file(scan_dir / "frames.raw")
    m = master(scan_dir / "master.h5", "storage", "frames.raw")
    monkeypatch.chdir(scan_dir)
    np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)


def test_nxtomo_master_with_virtual_frames_beside_it_reads(scan_dir):
    frames_file(scan_dir / "frames.h5")
    m = scan_dir / "master.nx"
    with h5py.File(m, "w") as f:
        e = f.create_group("entry0000")
        e["definition"] = "NXtomo"
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        layout[...] = h5py.VirtualSource("frames.h5", "data", shape=FRAMES.shape)
        e.create_group("instrument/detector").create_virtual_dataset("data", layout)
        e["instrument/detector/image_key"] = np.zeros(4, np.int64)
        e["sample/rotation_angle"] = THETA_DEG
    scan = io.read_nxtomo(m)
    np.testing.assert_array_equal(scan.data, FRAMES)
    np.testing.assert_array_equal(io.read(m, lazy=True).data[2], FRAMES[2])


def test_a_vds_of_the_file_itself_and_soft_links_need_no_permission(scan_dir):
    m = scan_dir / "self.h5"
    scan_dir.mkdir()
    with h5py.File(m, "w") as f:
        f["frames"] = FRAMES
        layout = h5py.VirtualLayout(FRAMES.shape, FRAMES.dtype)
        layout[...] = h5py.VirtualSource(".", "frames", shape=FRAMES.shape)
        f.create_virtual_dataset("exchange/data", layout)
        f["exchange/theta_deg"] = THETA_DEG
        f["exchange/theta"] = h5py.SoftLink("/exchange/theta_deg")
    np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)


# --- refused outside it -----------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_reference_to_another_folder_is_refused_naming_dataset_and_target(kind, scan_dir,
                                                                          elsewhere, master):
    data = target_for(kind, elsewhere)
    m = master(scan_dir / "master.h5", kind, data)
    for reader in (io.read_dx, io.read, io.read_dataset):
        args = (m, "exchange/theta") if reader is io.read_dataset else (m,)
        with pytest.raises(ValueError) as err:
            reader(*args)
        msg = str(err.value)
        assert "\n" not in msg
        assert "/exchange/data" in msg and str(data) in msg and "master.h5" in msg
        assert "outside the folder" in msg and "--allow-external" in msg


@pytest.mark.parametrize("kind", KINDS)
def test_allow_external_reads_a_reference_to_another_folder(kind, scan_dir, elsewhere, master):
    m = master(scan_dir / "master.h5", kind, target_for(kind, elsewhere))
    np.testing.assert_array_equal(io.read_dx(m, allow_external=True)[0], FRAMES)
    np.testing.assert_array_equal(io.read(m, allow_external=True).data, FRAMES)
    np.testing.assert_array_equal(io.read(m, lazy=True, allow_external=True).data[:],
                                  FRAMES)
    with allowing_external():
        np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)
    with allowing_external(), pytest.raises(ValueError, match="outside the folder"):
        io.read_dx(m, allow_external=False)  # the argument wins over the setting
    with pytest.raises(ValueError, match="outside the folder"):
        io.read_dx(m)  # the setting ends with its block


def test_external_storage_of_etc_passwd_is_refused(scan_dir):
    m = scan_dir / "passwd.h5"
    scan_dir.mkdir()
    with h5py.File(m, "w") as f:
        f.create_dataset("exchange/data", shape=(1, 1, 64), dtype="u1",
                         external=[("/etc/passwd", 0, 64)])
    for reader in (io.read, io.read_dx):
        with pytest.raises(ValueError, match=r"external storage /exchange/data points to "
                                             r"'/etc/passwd', outside the folder"):
            reader(m)


def test_dotdot_out_of_the_folder_is_refused(scan_dir, elsewhere, master):
    frames_file(elsewhere / "frames.h5")
    m = master(scan_dir / "master.h5", "link", "../elsewhere/frames.h5")
    with pytest.raises(ValueError, match=r"'\.\./elsewhere/frames\.h5'.*outside the folder"):
        io.read_dx(m)


def test_symbolic_link_out_of_the_folder_is_refused(scan_dir, elsewhere, master):
    data = frames_file(elsewhere / "frames.h5")
    scan_dir.mkdir()
    (scan_dir / "frames.h5").symlink_to(data)
    m = master(scan_dir / "master.h5", "vds", "frames.h5")
    with pytest.raises(ValueError, match="virtual dataset /exchange/data points to "
                                         "'frames.h5'.*outside the folder"):
        io.read_dx(m)


def test_a_fifo_in_the_folder_is_refused_without_opening_it(scan_dir, master):
    scan_dir.mkdir()
    os.mkfifo(scan_dir / "frames.h5")  # opening it would block
    m = master(scan_dir / "master.h5", "link", "frames.h5")
    with pytest.raises(ValueError, match="not a regular file"):
        io.read_dx(m)


def test_a_device_is_refused(scan_dir, master):
    m = master(scan_dir / "master.h5", "storage", "/dev/zero")
    with pytest.raises(ValueError, match="'/dev/zero'"):
        io.read_dx(m)


def test_missing_external_storage_is_named(scan_dir, master):
    m = master(scan_dir / "master.h5", "storage", scan_dir / "gone.raw")
    with pytest.raises(ValueError, match=r"external storage /exchange/data points to "
                                         r"'.*gone\.raw', which does not exist$"):
        io.read_dx(m)


def test_relative_external_storage_from_another_folder_says_why(scan_dir, tmp_path,
                                                                 monkeypatch, master):
    raw_file(scan_dir / "frames.raw")
    m = master(scan_dir / "master.h5", "storage", "frames.raw")
    monkeypatch.chdir(tmp_path)  # HDF5 would read tmp_path/frames.raw
    with pytest.raises(ValueError, match="relative external-storage names in the current "
                                         "folder"):
        io.read_dx(m)


def test_the_current_folder_fallback_is_checked(scan_dir, elsewhere, monkeypatch, master):
    # not beside the master, HDF5 looks for a relative target in the current folder
    frames_file(elsewhere / "frames.h5")
    m = master(scan_dir / "master.h5", "link", "frames.h5")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ValueError, match="outside the folder"):
        io.read_dx(m)


def test_a_missing_absolute_target_falls_back_beside_the_file(scan_dir, elsewhere, master):
    # HDF5 looks for an absolute name that does not exist by its base name beside the file
    frames_file(scan_dir / "frames.h5")
    m = master(scan_dir / "master.h5", "link", elsewhere / "frames.h5")
    np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)


def test_hdf5_prefix_variables_are_followed_by_the_check(scan_dir, elsewhere, monkeypatch, master):
    frames_file(elsewhere / "frames.h5")
    frames_file(scan_dir / "frames.h5")
    m = master(scan_dir / "master.h5", "link", "frames.h5")
    monkeypatch.setenv("HDF5_EXT_PREFIX", str(elsewhere))
    with pytest.raises(ValueError, match="outside the folder"):
        io.read_dx(m)
    monkeypatch.setenv("HDF5_EXT_PREFIX", "${ORIGIN}")
    np.testing.assert_array_equal(io.read_dx(m)[0], FRAMES)


def test_files_reached_are_checked_in_turn(scan_dir, master):
    # the data file beside the master keeps its bytes in /etc/passwd
    scan_dir.mkdir()
    with h5py.File(scan_dir / "frames.h5", "w") as f:
        f.create_dataset("data", shape=(4, 2, 8), dtype="u1",
                         external=[("/etc/passwd", 0, 64)])
    m = master(scan_dir / "master.h5", "link", "frames.h5")
    with pytest.raises(ValueError, match=r"frames\.h5': external storage /data points to "
                                         "'/etc/passwd'"):
        io.read_dx(m)


def test_links_that_loop_between_files_end(scan_dir):
    scan_dir.mkdir()
    with h5py.File(scan_dir / "a.h5", "w") as f:
        f["to_b"] = h5py.ExternalLink("b.h5", "/")
    with h5py.File(scan_dir / "b.h5", "w") as f:
        f["to_a"] = h5py.ExternalLink("a.h5", "/")
    with open_h5(scan_dir / "a.h5") as f:
        assert "to_b" in f


def test_printf_vds_sources_are_checked_by_pattern(scan_dir, elsewhere):
    for i in range(2):
        with h5py.File(frames_file(elsewhere / f"f{i}.h5"), "a") as f:
            f["x"] = np.full(3, float(i))
    scan_dir.mkdir()
    dcpl = h5p.create(h5p.DATASET_CREATE)
    vspace = h5s.create_simple((6,), (h5s.UNLIMITED,))
    vspace.select_hyperslab((0,), (h5s.UNLIMITED,), stride=(3,), block=(3,))
    dcpl.set_virtual(vspace, b"../elsewhere/f%b.h5", b"x", h5s.create_simple((3,)))
    with h5py.File(scan_dir / "blocks.h5", "w") as f:
        h5d.create(f.id, b"v", h5t.NATIVE_DOUBLE, h5s.create_simple((6,), (h5s.UNLIMITED,)),
                   dcpl=dcpl)
    with pytest.raises(ValueError, match=r"virtual dataset /v points to "
                                         r"'\.\./elsewhere/f%b\.h5'.*f0\.h5.*outside"):
        open_h5(scan_dir / "blocks.h5")
    with open_h5(scan_dir / "blocks.h5", allow_external=True) as f:
        np.testing.assert_array_equal(f["v"][:], [0, 0, 0, 1, 1, 1])


def test_check_external_on_an_open_file(scan_dir, elsewhere, master):
    data = frames_file(elsewhere / "frames.h5")
    m = master(scan_dir / "master.h5", "link", data)
    with h5py.File(m, "r") as f:
        check_external(f, allow_external=True)
        with pytest.raises(ValueError, match="external link /exchange/data"):
            check_external(f)


# --- the command line -------------------------------------------------------------

def test_cli_refuses_in_one_line_and_allow_external_reads(tmp_path, capsys):
    scan = tmp_path / "elsewhere" / "scan.h5"
    scan.parent.mkdir()
    io.write_dx(scan, np.full((8, 2, 16), 0.5, np.float32),
                flat=np.ones((1, 2, 16), np.float32), dark=np.zeros((1, 2, 16), np.float32),
                theta=np.linspace(0, np.pi, 8, endpoint=False))
    m = tmp_path / "scan_dir" / "master.h5"
    m.parent.mkdir()
    with h5py.File(m, "w") as f:
        f["exchange"] = h5py.ExternalLink(str(scan), "/exchange")
    out = tmp_path / "rec.h5"
    argv = ["recon", str(m), "--algorithm", "fbp", "-o", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0], err
    assert "external link /exchange" in err[0] and str(scan) in err[0]
    assert not out.exists()
    assert cli.main([*argv, "--allow-external"]) == 0
    assert io.read_dx(out)[0].shape == (2, 16, 16)
