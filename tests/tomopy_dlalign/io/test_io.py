import h5py
import numpy as np
import pytest

from tomopy_dlalign import io

THETA = np.linspace(0, np.pi, 12, endpoint=False)


@pytest.fixture
def arrays(raw_stacks):
    return raw_stacks(12, 5, 16, nflat=3, ndark=2)


def test_round_trip_is_bit_exact(tmp_path, arrays):
    prj, flat, dark = arrays
    path = tmp_path / "scan.h5"
    io.write_dx(path, prj, flat=flat, dark=dark, theta=THETA,
                extras={"shift_x": (np.arange(12.0), "pixel")})
    p, f, d, th = io.read_dx(path)
    for a, b in ((p, prj), (f, flat), (d, dark)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.allclose(th, THETA, rtol=0, atol=1e-15)
    assert np.array_equal(io.read_dataset(path, "/exchange/shift_x"), np.arange(12.0))
    with h5py.File(path) as h:
        assert h["/exchange/theta"].attrs["units"] == "degrees"
        assert h["/exchange/shift_x"].attrs["units"] == "pixel"
        assert "version" in h["/process/tomopy_dlalign"].attrs


def test_theta_is_degrees_on_disk_and_radians_in_memory(tmp_path, arrays):
    path = tmp_path / "scan.h5"
    io.write_dx(path, arrays[0], theta=THETA)
    with h5py.File(path) as h:
        assert np.allclose(h["/exchange/theta"][()], np.rad2deg(THETA))
    assert np.allclose(io.read_dx(path)[3], THETA)


def test_float_round_trip_is_bit_exact(tmp_path, rng):
    data = rng.standard_normal((4, 3, 8)).astype(np.float32)
    io.write_dx(tmp_path / "f.h5", data)
    assert np.array_equal(io.read_dx(tmp_path / "f.h5")[0], data)


def test_slice_range_reads_only_those_rows(tmp_path, arrays):
    prj, flat, dark = arrays
    path = tmp_path / "scan.h5"
    io.write_dx(path, prj, flat=flat, dark=dark, theta=THETA, compression="gzip")
    p, f, d, th = io.read_dx(path, sino=(1, 4), proj=(2, 10, 2))
    assert np.array_equal(p, prj[2:10:2, 1:4]) and np.array_equal(f, flat[:, 1:4])
    assert np.allclose(th, THETA[2:10:2])


def test_missing_fields_fall_back_to_process_acquisition(tmp_path, arrays, caplog):
    prj = arrays[0]
    path = tmp_path / "tomoscan.h5"
    with h5py.File(path, "w") as h:
        h["/exchange/data"] = prj
        h["/process/acquisition/flat_fields/flat_field_value"] = 5000.0
        h["/process/acquisition/dark_fields/dark_field_value"] = [100.0]
        h["/process/acquisition/rotation/rotation_start"] = 10.0
        h["/process/acquisition/rotation/rotation_step"] = 15.0
        h["/process/acquisition/rotation/num_angles"] = 12
    with caplog.at_level("WARNING"):
        p, f, d, th = io.read_dx(path)
    assert f.shape == (1, 5, 16) and np.all(f == 5000) and np.all(d == 100)
    assert np.allclose(np.rad2deg(th), 10 + 15 * np.arange(12))
    assert "rotation" in caplog.text and "flat_field_value" in caplog.text


def test_other_exchange_ranks_are_read(tmp_path, arrays):
    path = tmp_path / "multi.h5"
    with h5py.File(path, "w") as h:
        h["/exchange/data"] = arrays[0]
        h["/exchange2/data"] = arrays[0][:, :2]
        h["/exchange2/theta"] = np.rad2deg(THETA)
    assert io.read_dx(path, exchange_rank=2)[0].shape == (12, 2, 16)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: p.write_bytes(b"not hdf5 at all" * 100), ValueError, "not an HDF5 file"),
        (lambda p: h5py.File(p, "w").create_dataset("/exchange/data_white", data=[1]),
         KeyError, "'/exchange/data' is missing"),
        (lambda p: h5py.File(p, "w").create_dataset("/exchange/data", data=np.zeros((3, 4))),
         ValueError, "must be 3D"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, make, error, message):
    path = tmp_path / "bad.h5"
    f = make(path)
    if hasattr(f, "file"):
        f.file.close()
    with pytest.raises(error, match=message):
        io.read_dx(path)


def test_truncated_file_gives_clear_error(tmp_path, arrays, truncate):
    path = tmp_path / "scan.h5"
    io.write_dx(path, arrays[0], theta=THETA)
    truncate(path, path)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        io.read_dx(path)


def test_missing_file_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_dx(tmp_path / "nope.h5")


def test_nan_data_is_refused_on_read_and_write(tmp_path):
    data = np.ones((3, 2, 4), np.float32)
    data[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        io.write_dx(tmp_path / "x.h5", data)
    with h5py.File(tmp_path / "n.h5", "w") as h:
        h["/exchange/data"] = data
    with pytest.raises(ValueError, match="/exchange/data .*NaN"):
        io.read_dx(tmp_path / "n.h5")
    assert np.isnan(io.read_dx(tmp_path / "n.h5", allow_nan=True)[0]).sum() == 1


def test_theta_of_wrong_length_is_refused(tmp_path, arrays):
    with pytest.raises(ValueError, match="theta has 11 angles but data holds 12"):
        io.write_dx(tmp_path / "x.h5", arrays[0], theta=THETA[:-1])
    with h5py.File(tmp_path / "t.h5", "w") as h:
        h["/exchange/data"] = arrays[0]
        h["/exchange/theta"] = np.zeros(7)
    with pytest.raises(ValueError, match="7 angles but /exchange/data holds 12"):
        io.read_dx(tmp_path / "t.h5")


def test_2d_array_where_3d_expected_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data must be 3D"):
        io.write_dx(tmp_path / "x.h5", np.zeros((4, 4)))


def test_failed_write_leaves_existing_file_intact(tmp_path, arrays, monkeypatch):
    path = tmp_path / "out.h5"
    io.write_dx(path, arrays[0], theta=THETA)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io.dxchange, "write_provenance", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        io.write_dx(path, arrays[0][:, :2], theta=THETA)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]  # no temporary left behind


def test_results_written_beside_the_input_keep_its_content(tmp_path, arrays):
    prj, flat, dark = arrays
    src = tmp_path / "scan.h5"
    io.write_dx(src, prj, flat=flat, dark=dark, theta=THETA)
    out = tmp_path / "aligned.h5"
    io.write_dx(out, prj.astype(np.float32), theta=THETA, template=src,
                extras={"shift_y": (np.zeros(12), "pixel")})
    p, f, d, th = io.read_dx(out)
    assert np.array_equal(f, flat) and p.dtype == np.float32
    assert io.read_dataset(out, "/exchange/shift_y").shape == (12,)
    assert np.array_equal(io.read_dx(src)[0], prj)  # the input is untouched


def test_tiff_stack_round_trip(tmp_path, arrays):
    io.write_tiff_stack(tmp_path / "s.tif", arrays[0])
    assert np.array_equal(io.read_tiff_stack(tmp_path / "s.tif"), arrays[0])
