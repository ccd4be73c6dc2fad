"""Values no measurement can have, and files that are not what their reader expects, are
refused by name (or, for metadata, dropped with a warning) rather than read as nonsense."""

import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import olefile
import pytest

from tomopy_dlalign import io

TXRM = Path(__file__).resolve().parents[2] / "data" / "txrm_test_chip_tomo.txrm"


@pytest.mark.parametrize("energy", [-17.5, 0.0, np.nan])
def test_a_non_positive_nxtomo_energy_is_dropped_with_a_warning(energy, tmp_path, caplog):
    p = tmp_path / "scan.nx"
    io.write_nxtomo(p, np.ones((4, 2, 8), np.uint16), theta=np.linspace(0, np.pi, 4),
                    pixel_size=6.5e-6, energy=17.5)
    with h5py.File(p, "a") as f:
        f["entry0000/instrument/beam/incident_energy"][()] = energy
    scan = io.read_nxtomo(p)
    assert scan.energy is None and "energy_from" not in scan.metadata
    assert scan.pixel_size == pytest.approx(6.5e-6)
    assert "incident_energy" in caplog.text and "not a positive number" in caplog.text


def test_a_negative_pixel_size_is_dropped_too(tmp_path):
    p = tmp_path / "scan.nx"
    io.write_nxtomo(p, np.ones((4, 2, 8), np.uint16), theta=np.linspace(0, np.pi, 4),
                    pixel_size=6.5e-6, energy=17.5)
    with h5py.File(p, "a") as f:
        f["entry0000/instrument/detector/x_pixel_size"][()] = -1.0
    scan = io.read(p)
    assert scan.pixel_size is None and scan.energy == pytest.approx(17.5)


def test_read_tiff_stack_names_a_file_that_is_not_tiff(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"x\.h5' could not be read as a TIFF file"):
        io.read_tiff_stack(tmp_path / "x.h5")


def test_read_tiff_stack_names_a_folder_image_of_another_shape(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((4, 5), np.uint16))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((4, 6), np.uint16))
    with pytest.raises(ValueError, match=r"b\.tif' has shape \(4, 6\), unlike"):
        io.read_tiff_stack(tmp_path)


@pytest.mark.parametrize("taken", [0, 7])
def test_a_txrm_without_images_is_refused_clearly(taken, tmp_path):
    p = tmp_path / "none.txrm"
    shutil.copyfile(TXRM, p)
    with olefile.OleFileIO(str(p), write_mode=True) as ole:
        ole.write_stream("ImageInfo/NoOfImages", struct.pack("<i", 0))
        ole.write_stream("ImageInfo/ImagesTaken", struct.pack("<i", taken))
    with pytest.raises(ValueError, match=r"none\.txrm' holds no image \(ImageInfo/NoOfImages "
                                         rf"0, ImagesTaken {taken}\)"):
        io.read_txrm(p)
