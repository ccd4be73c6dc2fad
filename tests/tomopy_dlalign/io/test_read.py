"""``io.read`` sends each kind of file to its reader and returns one ``Scan``."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from tomopy_dlalign import io

DATA = Path(__file__).resolve().parents[2] / "data"
THETA = np.linspace(0, np.pi, 4, endpoint=False)
PRJ = np.arange(4 * 3 * 8, dtype=np.uint16).reshape(4, 3, 8)


@pytest.mark.parametrize("name", ["scan.nx", "scan.nxs", "scan.h5", "scan.hdf5"])
def test_nxtomo_is_recognised_by_content(tmp_path, name):
    io.write_nxtomo(tmp_path / name, PRJ, theta=THETA, energy=20.0)
    scan = io.read(tmp_path / name)
    assert scan.format == "nxtomo" and np.array_equal(scan.data, PRJ) and scan.energy == 20.0


def test_data_exchange_is_recognised_by_content(tmp_path):
    io.write_dx(tmp_path / "scan.h5", PRJ, flat=PRJ[:1], theta=THETA)
    with h5py.File(tmp_path / "scan.h5", "a") as f:
        f["/measurement/instrument/detection_system/objective/resolution"] = 0.65
        f["/measurement/instrument/detection_system/objective/resolution"].attrs["units"] = "um"
        f["/measurement/instrument/monochromator/energy"] = 25.0
    scan = io.read(tmp_path / "scan.h5", sino=(1, 3))
    assert scan.format == "dxchange" and np.array_equal(scan.data, PRJ[:, 1:3])
    assert np.array_equal(scan.flat, PRJ[:1, 1:3]) and np.allclose(scan.theta, THETA)
    assert scan.pixel_size == pytest.approx(0.65e-6) and scan.energy == 25.0
    lazy = io.read(tmp_path / "scan.h5", proj=(1, 3), lazy=True)
    assert isinstance(lazy.data, io.LazyStack) and np.array_equal(lazy.data[:], PRJ[1:3])


def test_txm_files_are_recognised():
    tomo = io.read(DATA / "txrm_test_chip_tomo.txrm", proj=(0, 2))
    single = io.read(DATA / "test_chip00.xrm")
    assert tomo.format == "txrm" and tomo.shape == (2, 256, 256) and tomo.theta.shape == (2,)
    assert single.format == "xrm" and single.shape == (1, 512, 512) and single.theta is None


def test_tiff_file_and_folder_are_recognised(tmp_path):
    io.write_tiff_stack(tmp_path / "scan.tiff", PRJ, theta=THETA)
    assert io.read(tmp_path / "scan.tiff").format == "tiff"
    folder = tmp_path / "stack"
    folder.mkdir()
    for i, image in enumerate(PRJ):
        tifffile.imwrite(folder / f"p{i}.tif", image)
    scan = io.read(folder, theta=THETA)
    assert scan.format == "tiff" and np.array_equal(scan.data, PRJ)


def test_unknown_extension_is_recognised_by_signature(tmp_path):
    shutil.copyfile(DATA / "txrm_test_chip_tomo.txrm", tmp_path / "scan.bin")
    io.write_nxtomo(tmp_path / "scan.dat", PRJ, theta=THETA)
    io.write_tiff_stack(tmp_path / "scan.img", PRJ)
    assert io.read(tmp_path / "scan.bin").format == "txrm"
    assert io.read(tmp_path / "scan.dat").format == "nxtomo"
    assert io.read(tmp_path / "scan.img").format == "tiff"


def test_unknown_or_empty_files_are_refused_naming_them(tmp_path, rng):
    (tmp_path / "x.bin").write_bytes(rng.bytes(100))
    with pytest.raises(ValueError, match=r"x\.bin' is not a format read here"):
        io.read(tmp_path / "x.bin")
    h5py.File(tmp_path / "none.h5", "w").close()
    with pytest.raises(ValueError, match=r"none\.h5' is neither a Data Exchange .* nor NXtomo"):
        io.read(tmp_path / "none.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read(tmp_path / "missing.nx")


def test_arguments_that_do_not_apply_are_refused(tmp_path):
    io.write_nxtomo(tmp_path / "scan.nx", PRJ, theta=THETA)
    with pytest.raises(ValueError, match="theta= applies to TIFF stacks only"):
        io.read(tmp_path / "scan.nx", theta=THETA)
    with pytest.raises(ValueError, match="lazy=True applies to HDF5 files only"):
        io.read(DATA / "test_chip00.xrm", lazy=True)
    with pytest.raises(ValueError, match="proj= does not apply"):
        io.read(DATA / "test_chip00.xrm", proj=(0, 1))
