"""TIFF stacks with their angle files, flats and darks: round trips and clear errors."""

import numpy as np
import pytest
import tifffile

from tomopy_dlalign import io

THETA = np.linspace(0, np.pi, 6, endpoint=False)


@pytest.fixture
def stacks(raw_stacks):
    return raw_stacks(6, 4, 10, nflat=2, ndark=1)


def test_multipage_round_trip_is_bit_exact_and_memory_mapped(tmp_path, stacks):
    prj, flat, dark = stacks
    path = tmp_path / "scan.tif"
    io.write_tiff_stack(path, prj, theta=THETA, flat=flat, dark=dark)
    assert {p.name for p in tmp_path.iterdir()} == {
        "scan.tif", "scan_theta.txt", "scan_flat.tif", "scan_dark.tif"}
    scan = io.read_tiff(path)
    assert isinstance(scan.data, np.memmap)
    for got, want in zip((scan.data, scan.flat, scan.dark), stacks, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # degrees in the text file, exactly; radians in memory to the last bit of the conversion
    assert np.array_equal(np.loadtxt(tmp_path / "scan_theta.txt"), np.rad2deg(THETA))
    np.testing.assert_array_max_ulp(scan.theta, THETA, maxulp=1)
    assert scan.format == "tiff" and scan.pixel_size is None


def test_three_frame_float_stack_round_trips_as_pages_not_rgb(tmp_path, rng):
    data = rng.standard_normal((3, 4, 5)).astype(np.float32)
    io.write_tiff_stack(tmp_path / "f.tif", data)
    with tifffile.TiffFile(tmp_path / "f.tif") as tif:
        assert len(tif.pages) == 3
    assert np.array_equal(io.read_tiff(tmp_path / "f.tif").data, data)


def test_colour_file_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((4, 5, 3), np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match=r"rgb\.tif' holds 3 samples per pixel"):
        io.read_tiff(tmp_path / "rgb.tif")


def test_folder_stack_reads_theta_txt_and_flat_dark_files(tmp_path, stacks):
    prj, flat, dark = stacks
    for i, image in enumerate(prj):
        tifffile.imwrite(tmp_path / f"proj_{i:04d}.tif", image)
    for i, image in enumerate(flat):
        tifffile.imwrite(tmp_path / f"flat_{i:04d}.tif", image)
    tifffile.imwrite(tmp_path / "dark_0000.tiff", dark[0])
    (tmp_path / io.tiff.THETA_FILE).write_text(
        "# degrees\n" + "\n".join(str(d) for d in [0, 30, 60, 90, 120, 150]))
    scan = io.read_tiff(tmp_path, proj=(1, 5), sino=(1, 3))
    assert np.array_equal(scan.data, prj[1:5, 1:3])
    assert np.array_equal(scan.flat, flat[:, 1:3]) and np.array_equal(scan.dark, dark[:, 1:3])
    assert np.allclose(np.rad2deg(scan.theta), [30, 60, 90, 120])


def test_theta_argument_is_radians_and_wins_over_the_file(tmp_path, stacks):
    path = tmp_path / "scan.tif"
    io.write_tiff_stack(path, stacks[0], theta=THETA)
    other = THETA + 0.1
    assert np.array_equal(io.read_tiff(path, theta=other).theta, other)
    with pytest.raises(ValueError, match="looks like degrees"):
        io.read_tiff(path, theta=np.rad2deg(THETA) * 10)


def test_no_angles_gives_none_and_a_warning(tmp_path, stacks, caplog):
    io.write_tiff_stack(tmp_path / "scan.tif", stacks[0])
    with caplog.at_level("WARNING"):
        assert io.read_tiff(tmp_path / "scan.tif").theta is None
    assert "scan_theta.txt" in caplog.text


def test_compressed_file_is_read_without_memory_map(tmp_path, stacks):
    tifffile.imwrite(tmp_path / "z.tif", stacks[0], compression="zlib")
    scan = io.read_tiff(tmp_path / "z.tif", sino=(0, 2))
    assert not isinstance(scan.data, np.memmap)
    assert np.array_equal(scan.data, stacks[0][:, :2])


def test_wrong_angle_count_names_the_file(tmp_path, stacks):
    io.write_tiff_stack(tmp_path / "scan.tif", stacks[0])
    (tmp_path / "scan_theta.txt").write_text("0 10 20")
    with pytest.raises(ValueError, match=r"scan_theta\.txt' holds 3 angles but .* 6 proj"):
        io.read_tiff(tmp_path / "scan.tif")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_file_is_refused_naming_it(tmp_path, rng, compression, truncate):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, rng.integers(0, 9, (6, 32, 32)).astype(np.uint16),
                     compression=compression)
    truncate(path, path)
    with pytest.raises(ValueError, match=r"cut\.tif' (is truncated|could not be read)"):
        io.read_tiff(path)


def test_wrong_or_missing_files_give_clear_errors(tmp_path, rng):
    (tmp_path / "noise.tif").write_bytes(rng.bytes(1000))
    with pytest.raises(ValueError, match=r"noise\.tif' could not be read as a TIFF"):
        io.read_tiff(tmp_path / "noise.tif")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_tiff(tmp_path / "nope.tif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no projection .tif"):
        io.read_tiff(tmp_path / "empty")
