"""Zeiss/Xradia readers against the two measured files in tests/data.

The expected values are decoded here from the files' own streams with ``struct``, not
through the reader under test.
"""

import shutil
import struct
from pathlib import Path

import numpy as np
import olefile
import pytest

from tomopy_dlalign import io
from tomopy_dlalign.io import txm

DATA = Path(__file__).resolve().parents[2] / "data"
TXRM = DATA / "txrm_test_chip_tomo.txrm"
XRM = DATA / "test_chip00.xrm"


def stream(path, name):
    ole = olefile.OleFileIO(str(path))
    try:
        return ole.openstream(name).read()
    finally:
        ole.close()


def unpack(path, name, code):
    raw = stream(path, name)
    count = len(raw) // struct.calcsize("<" + code)
    return struct.unpack(f"<{count}{code}", raw[: count * struct.calcsize('<' + code)])


def test_txrm_angles_are_the_imageinfo_angles_in_radians():
    nimages = unpack(TXRM, "ImageInfo/NoOfImages", "i")[0]
    degrees = np.array(unpack(TXRM, "ImageInfo/Angles", "f")[:nimages])
    scan = io.read_txrm(TXRM)
    assert nimages == 7
    assert np.allclose(degrees, [-45, -30, -15, 0, 15, 30, 45], atol=0.05)
    assert np.array_equal(scan.theta, np.deg2rad(degrees))
    assert np.array_equal(scan.metadata["Angles"], degrees)


def test_txrm_images_are_the_stored_uint16_pixels():
    width = unpack(TXRM, "ImageInfo/ImageWidth", "i")[0]
    height = unpack(TXRM, "ImageInfo/ImageHeight", "i")[0]
    assert (width, height) == (256, 256)
    assert unpack(TXRM, "ImageInfo/DataType", "i")[0] == 5
    third = np.array(unpack(TXRM, "ImageData1/Image3", "H")).reshape(height, width)
    scan = io.read_txrm(TXRM)
    assert scan.data.shape == (7, 256, 256) and scan.data.dtype == np.uint16
    assert np.array_equal(scan.data[2], third)
    assert scan.flat is None and scan.dark is None and scan.center is None


def test_txrm_pixel_size_is_metres_and_energy_kev():
    microns = unpack(TXRM, "ImageInfo/PixelSize", "f")[0]
    ev = [v for v in unpack(TXRM, "ImageInfo/Energy", "f") if v > 0]
    scan = io.read_txrm(TXRM)
    assert microns == pytest.approx(0.1558, abs=1e-4)
    assert scan.pixel_size == pytest.approx(microns * 1e-6, rel=1e-12)
    assert len(ev) == 7 and scan.energy == pytest.approx(ev[0] / 1000, rel=1e-12)
    assert np.allclose(scan.metadata["Energy"], ev)


def test_txrm_metadata_carries_the_imageinfo_fields():
    meta = io.read_txrm(TXRM).metadata
    assert meta["ImageWidth"] == unpack(TXRM, "ImageInfo/ImageWidth", "i")[0]
    assert meta["ImagesTaken"] == meta["NoOfImages"] == 7
    assert meta["HorizontalBin"] == unpack(TXRM, "ImageInfo/HorizontalBin", "i")[0] == 8
    assert meta["VerticalBin"] == unpack(TXRM, "ImageInfo/VerticalalBin", "i")[0] == 8
    assert np.allclose(meta["ExpTimes"], unpack(TXRM, "ImageInfo/ExpTimes", "f"))
    assert np.allclose(meta["XrayMagnification"],
                       unpack(TXRM, "ImageInfo/XrayMagnification", "f")[:7])
    assert meta["DataType"] == 5 and meta["dtype"] == "uint16"


def test_xrm_is_one_image_with_its_reference_as_flat():
    width = unpack(XRM, "ImageInfo/ImageWidth", "i")[0]
    height = unpack(XRM, "ImageInfo/ImageHeight", "i")[0]
    image = np.array(unpack(XRM, "ImageData1/Image1", "H")).reshape(height, width)
    assert unpack(XRM, "ReferenceData/DataType", "i")[0] == 5
    reference = np.array(unpack(XRM, "ReferenceData/Image", "H")).reshape(height, width)
    scan = io.read_xrm(XRM)
    assert (width, height) == (512, 512)
    assert scan.data.shape == (1, 512, 512) and scan.theta is None
    assert np.array_equal(scan.data[0], image)
    assert scan.flat.shape == (1, 512, 512) and np.array_equal(scan.flat[0], reference)
    assert scan.pixel_size == pytest.approx(unpack(XRM, "ImageInfo/PixelSize", "f")[0] * 1e-6)
    assert scan.energy == pytest.approx(unpack(XRM, "ImageInfo/Energy", "f")[0] / 1000)
    assert scan.metadata["Angles"][0] == pytest.approx(unpack(XRM, "ImageInfo/Angles", "f")[0])


def test_proj_and_sino_ranges_read_only_those_images_and_rows():
    full = io.read_txrm(TXRM)
    part = io.read_txrm(TXRM, proj=(1, 7, 2), sino=(100, 140))
    assert np.array_equal(part.data, full.data[1:7:2, 100:140])
    assert np.array_equal(part.theta, full.theta[1:7:2])
    assert np.array_equal(io.read_xrm(XRM, sino=(0, 8)).flat, io.read_xrm(XRM).flat[:, :8])


def test_truncated_file_is_refused_naming_it(tmp_path, truncate):
    cut = truncate(TXRM, tmp_path / "cut.txrm")
    with pytest.raises(ValueError, match=r"cut\.txrm' is truncated"):
        io.read_txrm(cut)


def test_random_bytes_are_not_an_ole2_file(tmp_path, rng):
    bad = tmp_path / "noise.txrm"
    bad.write_bytes(rng.bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.txrm' is not an OLE2 compound file"):
        io.read_txrm(bad)


def test_missing_angles_stream_is_named(tmp_path):
    renamed = tmp_path / "no_angles.txrm"
    raw = TXRM.read_bytes()
    renamed.write_bytes(raw.replace("Angles".encode("utf-16-le"), "Anglez".encode("utf-16-le")))
    with pytest.raises(ValueError, match=r"no_angles\.txrm' has no stream ImageInfo/Angles"):
        io.read_txrm(renamed)


def test_unknown_data_type_is_refused(monkeypatch):
    monkeypatch.setattr(txm, "DATA_TYPES", {10: np.dtype("<f4")})
    with pytest.raises(ValueError, match="ImageInfo/DataType of .* is 5; known data types"):
        io.read_txrm(TXRM)


def test_missing_file_and_wrong_reader(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_txrm(tmp_path / "nope.txrm")
    with pytest.raises(ValueError, match="holds 7 images; read it with read_txrm"):
        io.read_xrm(TXRM)
    copy = tmp_path / "copy.txrm"
    shutil.copyfile(TXRM, copy)
    assert io.read_txrm(copy).data.shape == (7, 256, 256)
