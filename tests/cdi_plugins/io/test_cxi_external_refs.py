"""CXI, Data Exchange and NeXus frame readers of cdi_plugins stay inside the file's folder.

A pattern or a NeXus master may point at its frames through an external link, a virtual
dataset or external storage: followed beside the file or below its folder, refused (one
line naming the dataset and the target) elsewhere, unless ``allow_external=True`` /
``--allow-external``.
"""

import h5py
import numpy as np
import pytest

from cdi_plugins import cli, io
from tomopy_dlalign.common.h5files import allowing_external

YY, XX = np.mgrid[0:32, 0:32]
PATTERN = (1e3 * np.exp(-((YY - 16) ** 2 + (XX - 16) ** 2) / 20)).astype(np.float32)


def frames_file(path, name="/entry/data/data"):
    """A detector data file (as an Eiger writes beside its master), two frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f[name] = np.stack([PATTERN, PATTERN])
    return path


@pytest.fixture
def cxi_master(h5_reference):
    """``make(path, kind, target)``: a CXI file whose /entry_1/data_1/data is an external
    link, a virtual dataset or external storage pointing at ``target``."""
    def make(path, kind, target):
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            grp = f.create_group("entry_1/data_1")
            h5_reference(grp, "data", kind, target, "/entry/data/data", (2, 32, 32),
                         np.float32)
        return path
    return make


def target_for(kind, folder):
    if kind == "storage":
        folder.mkdir(parents=True, exist_ok=True)
        np.stack([PATTERN, PATTERN]).tofile(folder / "frames.raw")
        return folder / "frames.raw"
    return frames_file(folder / "frames.h5")


@pytest.mark.parametrize("kind", ["link", "vds", "storage"])
def test_cxi_reads_its_frames_beside_it(kind, tmp_path, cxi_master):
    data = target_for(kind, tmp_path / "scan")
    m = cxi_master(tmp_path / "scan" / "pattern.cxi", kind,
                   data if kind == "storage" else data.name)
    intensity, mask = io.read_cxi(m)
    np.testing.assert_array_equal(intensity, np.stack([PATTERN, PATTERN]))
    assert not mask.any()
    assert io.read_cxi_geometry(m) is None


@pytest.mark.parametrize("kind", ["link", "vds", "storage"])
def test_cxi_refuses_a_reference_elsewhere_unless_allowed(kind, tmp_path, cxi_master):
    data = target_for(kind, tmp_path / "elsewhere")
    m = cxi_master(tmp_path / "scan" / "pattern.cxi", kind, data)
    with pytest.raises(ValueError) as err:
        io.read_cxi(m)
    msg = str(err.value)
    assert "\n" not in msg and "/entry_1/data_1/data" in msg and str(data) in msg
    assert "outside the folder" in msg
    np.testing.assert_array_equal(io.read_cxi(m, allow_external=True)[0][1], PATTERN)
    with allowing_external():
        np.testing.assert_array_equal(io.read_frames(m).data[0], PATTERN)


def test_etc_passwd_as_external_storage_is_refused_by_every_reader(tmp_path):
    for name, layout in (("p.cxi", "entry_1/data_1/data"), ("p.h5", "exchange/data"),
                         ("n.nxs", "entry/data/data")):
        with h5py.File(tmp_path / name, "w") as f:
            f.create_dataset(layout, shape=(4, 16), dtype="u1",
                             external=[("/etc/passwd", 0, 64)])
    for reader, name in ((io.read_cxi, "p.cxi"), (io.read_dx, "p.h5"),
                         (io.read_frames, "n.nxs"), (io.read_frames, "p.cxi")):
        with pytest.raises(ValueError, match="points to '/etc/passwd', outside the folder"):
            reader(tmp_path / name)


def test_nexus_master_frames_beside_it_and_elsewhere(tmp_path):
    frames_file(tmp_path / "scan" / "data_000001.h5")
    m = tmp_path / "scan" / "master.h5"
    with h5py.File(m, "w") as f:
        f["entry/data/data"] = h5py.ExternalLink("data_000001.h5", "/entry/data/data")
    assert io.read_frames(m).data.shape == (2, 32, 32)
    elsewhere = frames_file(tmp_path / "elsewhere" / "data_000001.h5")
    with h5py.File(m, "a") as f:
        del f["entry/data/data"]
        f["entry/data/data"] = h5py.ExternalLink(str(elsewhere), "/entry/data/data")
    with pytest.raises(ValueError, match="external link /entry/data/data points to"):
        io.read_frames(m)
    assert io.read_frames(m, allow_external=True).data.shape == (2, 32, 32)


def test_result_and_pattern_files_are_checked(tmp_path):
    elsewhere = frames_file(tmp_path / "elsewhere" / "frames.h5")
    p = tmp_path / "scan" / "pattern.h5"
    p.parent.mkdir()
    io.write_dx(p, PATTERN)
    with h5py.File(p, "a") as f:
        f["exchange/extra"] = h5py.ExternalLink(str(elsewhere), "/entry")
    with pytest.raises(ValueError, match="external link /exchange/extra"):
        io.read_dx(p)
    np.testing.assert_array_equal(io.read_dx(p, allow_external=True)[0], PATTERN)
    with pytest.raises(ValueError, match="external link /exchange/extra"):
        io.read_result(p)


def test_non_finite_intensities_read_as_zero_where_masked_and_are_refused_elsewhere(
        tmp_path):
    data = PATTERN.copy()
    data[0, 0] = np.nan
    mask = np.zeros((32, 32), np.uint32)
    mask[0, 0] = 1
    with h5py.File(tmp_path / "p.cxi", "w") as f:
        f["entry_1/data_1/data"] = data
        f["entry_1/data_1/mask"] = mask
    intensity, missing = io.read_cxi(tmp_path / "p.cxi")
    assert intensity[0, 0] == 0 and missing[0, 0] and np.isfinite(intensity).all()
    with h5py.File(tmp_path / "p.cxi", "a") as f:
        f["entry_1/data_1/mask"][0, 0] = 0
    with pytest.raises(ValueError, match=r"/entry_1/data_1/data in .*p\.cxi' holds 1 values "
                                         "that are not finite"):
        io.read_cxi(tmp_path / "p.cxi")


def test_cli_refuses_in_one_line_and_allow_external_reads(tmp_path, capsys):
    elsewhere = frames_file(tmp_path / "elsewhere" / "data_000001.h5")
    m = tmp_path / "scan" / "master.h5"
    m.parent.mkdir()
    with h5py.File(m, "w") as f:
        f["entry/data/data"] = h5py.ExternalLink(str(elsewhere), "/entry/data/data")
    out = tmp_path / "pattern.cxi"
    with pytest.raises(SystemExit) as exc:
        cli.main(["prepare", str(m), "-o", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0], err
    assert "/entry/data/data" in err[0] and str(elsewhere) in err[0]
    assert not out.exists()
    assert cli.main(["prepare", str(m), "-o", str(out), "--allow-external"]) == 0
    assert io.read_cxi(out)[0].shape == (30, 30)  # cropped around the centre
