"""Detector frames that would be read as nonsense are refused: EDF headers that do not
describe their payload (fabio pads a short payload with zeros and believes a wrong
DataType), and complex frames (whose imaginary part a float conversion drops)."""

import gzip

import fabio
import numpy as np
import pytest

from cdi_plugins import io
from cdi_plugins.io.detector import check_edf

FRAME = np.arange(12, dtype=np.uint16).reshape(3, 4)


def edf(path, header: dict, payload: bytes = FRAME.tobytes()):
    """An EDF file with exactly this header (padded to 512 bytes) and payload."""
    text = "{\n" + "".join(f"{k} = {v} ;\n" for k, v in header.items())
    path.write_bytes(text.ljust(510).encode() + b"}\n" + payload)
    return path


HEADER = {"ByteOrder": "LowByteFirst", "DataType": "UnsignedShort", "Dim_1": 4, "Dim_2": 3,
          "Size": 24}


def test_an_honest_header_reads(tmp_path):
    np.testing.assert_array_equal(io.read_frames(edf(tmp_path / "ok.edf", HEADER)).data[0],
                                  FRAME)
    fabio.edfimage.EdfImage(data=FRAME.astype(np.float32)).write(str(tmp_path / "f.edf"))
    with open(tmp_path / "f.edf", "rb") as src, gzip.open(tmp_path / "f.edf.gz", "wb") as dst:
        dst.write(src.read())
    np.testing.assert_array_equal(io.read_frames(tmp_path / "f.edf.gz").data[0], FRAME)


def test_multi_frame_edf_is_checked_frame_by_frame(tmp_path):
    img = fabio.edfimage.EdfImage(data=FRAME)
    img.append_frame(data=FRAME + 1)
    img.write(str(tmp_path / "two.edf"))
    assert io.read_frames(tmp_path / "two.edf").data.shape == (2, 3, 4)
    raw = (tmp_path / "two.edf").read_bytes()
    (tmp_path / "cut.edf").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"cut\.edf' frame 1: the header declares 24 bytes "
                                         r"\(12 pixels of UnsignedShort\) but the file holds 14"):
        io.read_frames(tmp_path / "cut.edf")


@pytest.mark.parametrize("header", [{**HEADER, "Dim_1": 40, "Size": 240},
                                    {k: v for k, v in {**HEADER, "Dim_1": 40}.items()
                                     if k != "Size"}], ids=["with Size", "without Size"])
def test_a_payload_shorter_than_the_header_declares_is_refused(header, tmp_path):
    path = edf(tmp_path / "short.edf", header)
    with pytest.raises(ValueError, match=r"short\.edf' frame 0: the header declares 240 bytes "
                                         r".* but the file holds 24$"):
        io.read_frames(path)


@pytest.mark.parametrize("sized", [True, False], ids=["with Size", "without Size"])
@pytest.mark.parametrize("dtype, item", [("FloatValue", 4), ("UnsignedByte", 1),
                                         ("DoubleValue", 8)])
def test_a_data_type_that_disagrees_with_the_payload_is_refused(dtype, item, sized,
                                                                tmp_path):
    header = {k: v for k, v in {**HEADER, "DataType": dtype}.items() if sized or k != "Size"}
    path = edf(tmp_path / "lie.edf", header)
    with pytest.raises(ValueError, match=rf"lie\.edf' frame 0: DataType {dtype} has "
                                         rf"{item}-byte pixels, but its payload of 24 bytes "
                                         "for 12 pixels is 2 bytes per pixel"):
        check_edf(path)


def test_a_gzipped_lie_is_refused_too(tmp_path):
    raw = edf(tmp_path / "x.edf", {**HEADER, "Dim_1": 40, "Size": 240}).read_bytes()
    with gzip.open(tmp_path / "x.edf.gz", "wb") as f:
        f.write(raw)
    with pytest.raises(ValueError, match=r"x\.edf\.gz' frame 0: the header declares 240"):
        io.read_frames(tmp_path / "x.edf.gz")


def test_a_broken_gzip_is_named(tmp_path):
    (tmp_path / "b.edf.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match=r"b\.edf\.gz"):
        io.read_frames(tmp_path / "b.edf.gz")


def test_complex_npy_frames_are_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((2, 8, 8), np.complex64))
    with pytest.raises(TypeError, match=r"c\.npy' holds complex64 frames"):
        io.read_frames(tmp_path / "c.npy")
    with pytest.raises(TypeError, match="complex"):
        io.prepare(np.ones((8, 8), np.complex128))


def test_values_beyond_float32_are_refused_rather_than_made_infinite(tmp_path):
    np.save(tmp_path / "big.npy", np.full((1, 4, 4), 1e300))
    with pytest.raises(ValueError, match=r"big\.npy' holds values beyond the float32 range"):
        io.read_frames(tmp_path / "big.npy")
