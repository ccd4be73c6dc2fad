"""NXtomo reading and writing: ESRF and Diamond layouts, round trips, clear errors."""

import h5py
import numpy as np
import pytest

from tomopy_dlalign import io

THETA = np.linspace(0, np.pi, 12, endpoint=False)


@pytest.fixture
def stacks(raw_stacks):
    return raw_stacks(12, 5, 16, nflat=3, ndark=2)


@pytest.fixture
def written(tmp_path, stacks):
    path = tmp_path / "scan.nx"
    io.write_nxtomo(path, *stacks, theta=THETA, pixel_size=6.5e-6, energy=17.5, center=7.25)
    return path


def test_round_trip_is_bit_exact(written, stacks):
    scan = io.read_nxtomo(written)
    for got, want in zip((scan.data, scan.flat, scan.dark), stacks, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    with h5py.File(written) as f:
        on_disk = f["/entry0000/sample/rotation_angle"][()]
        keys = f["/entry0000/instrument/detector/image_key"][()]
    # degrees on disk, exactly; radians in memory to the last bit of the conversion
    assert np.array_equal(on_disk[keys == 0], np.rad2deg(THETA))
    np.testing.assert_array_max_ulp(scan.theta, THETA, maxulp=1)
    assert scan.pixel_size == 6.5e-6 and scan.energy == 17.5 and scan.center == 7.25
    assert scan.format == "nxtomo" and scan.metadata["entry"] == "/entry0000"


def test_float_data_round_trips(tmp_path, rng):
    data = rng.standard_normal((4, 3, 8)).astype(np.float32)
    io.write_nxtomo(tmp_path / "f.nx", data, theta=THETA[:4])
    scan = io.read_nxtomo(tmp_path / "f.nx")
    assert np.array_equal(scan.data, data) and scan.flat is None and scan.dark is None


def test_layout_follows_the_nxtomo_definition(written):
    with h5py.File(written) as f:
        e = f["entry0000"]
        assert e["definition"][()] == b"NXtomo" and e.attrs["NX_class"] == "NXentry"
        assert list(e["instrument/detector/image_key"][()]) == [2] * 2 + [1] * 3 + [0] * 12
        assert e["sample/rotation_angle"].attrs["units"] == "degree"
        assert e["instrument/beam/incident_energy"].attrs["units"] == "keV"
        assert e["instrument/detector/x_pixel_size"].attrs["units"] == "m"
        assert e["data"].get("data", getlink=True).path == "/entry0000/instrument/detector/data"


def test_slice_ranges_and_lazy_stack_read_the_same(written, stacks):
    prj, flat, _ = stacks
    part = io.read_nxtomo(written, proj=(2, 10, 2), sino=(1, 4))
    assert np.array_equal(part.data, prj[2:10:2, 1:4]) and np.array_equal(part.flat, flat[:, 1:4])
    np.testing.assert_array_max_ulp(part.theta, THETA[2:10:2], maxulp=1)
    lazy = io.read_nxtomo(written, proj=(2, 10, 2), sino=(1, 4), lazy=True)
    assert isinstance(lazy.data, io.LazyStack) and lazy.data.shape == (4, 3, 16)
    assert np.array_equal(lazy.data[1], prj[4, 1:4])
    assert np.array_equal(lazy.data[[3, 0], :, 5], prj[[8, 2], 1:4, 5])
    assert np.array_equal(np.asarray(lazy.data), part.data)


def test_diamond_subentry_with_radians_and_float_image_key(tmp_path, stacks):
    prj, flat, dark = stacks
    frames = np.concatenate([dark, flat, prj, flat[:1]])
    keys = np.array([2.0] * 2 + [1.0] * 3 + [0.0] * 12 + [1.0])
    angles = np.concatenate([np.zeros(5), THETA, [0.0]])
    path = tmp_path / "diamond.nxs"
    with h5py.File(path, "w") as f:
        sub = f.create_group("entry1/tomo_entry")
        sub.attrs["NX_class"] = "NXsubentry"
        sub["definition"] = "NXtomo"
        sub["data/data"] = frames
        sub["data/image_key"] = keys
        sub["data/rotation_angle"] = angles
        sub["data/rotation_angle"].attrs["units"] = "rad"
        sub["instrument/detector/x_pixel_size"] = 1.3
        sub["instrument/detector/x_pixel_size"].attrs["units"] = "um"
    scan = io.read_nxtomo(path)
    assert scan.metadata["entry"] == "/entry1/tomo_entry"
    assert np.array_equal(scan.data, prj) and np.array_equal(scan.theta, THETA)
    assert scan.flat.shape == (4, 5, 16) and np.array_equal(scan.dark, dark)
    assert scan.pixel_size == pytest.approx(1.3e-6)


def test_invalid_and_alignment_frames_are_left_out(tmp_path, stacks):
    prj = stacks[0]
    path = tmp_path / "esrf.nx"
    with h5py.File(path, "w") as f:
        f["entry0000/definition"] = "NXtomo"
        f["entry0000/instrument/detector/data"] = prj
        f["entry0000/instrument/detector/image_key"] = [0] * 10 + [3, 0]
        f["entry0000/instrument/detector/image_key_control"] = [0] * 10 + [3, -1]
        f["entry0000/sample/rotation_angle"] = np.rad2deg(THETA)
    scan = io.read_nxtomo(path)
    assert np.array_equal(scan.data, prj[:10])
    np.testing.assert_array_max_ulp(scan.theta, THETA[:10], maxulp=1)


def test_entry_can_be_chosen(tmp_path, stacks):
    path = tmp_path / "two.nx"
    io.write_nxtomo(path, stacks[0], theta=THETA)
    with h5py.File(path, "a") as f:
        f["entry0001/definition"] = "NXtomo"
        f["entry0001/instrument/detector/data"] = stacks[0][:, :2]
        f["entry0001/instrument/detector/image_key"] = np.zeros(12, int)
    assert io.read_nxtomo(path).data.shape == (12, 5, 16)
    assert io.read_nxtomo(path, entry="/entry0001").data.shape == (12, 2, 16)


def test_files_the_nxtomo_package_writes_are_read(tmp_path, stacks):
    nxtomo = pytest.importorskip("nxtomo")
    pint = pytest.importorskip("pint")
    from nxtomo.nxobject.nxdetector import ImageKey

    ureg = pint.get_application_registry()
    prj, flat, dark = stacks
    nx = nxtomo.NXtomo()
    nx.instrument.detector.data = np.concatenate([dark, flat, prj])
    nx.instrument.detector.image_key_control = (
        [ImageKey.DARK_FIELD] * 2 + [ImageKey.FLAT_FIELD] * 3 + [ImageKey.PROJECTION] * 12)
    nx.sample.rotation_angle = np.concatenate([np.zeros(5), np.rad2deg(THETA)]) * ureg.degree
    nx.instrument.detector.x_pixel_size = 6.5e-6 * ureg.meter
    nx.instrument.beam.incident_energy = 19.0 * ureg.keV
    nx.save(str(tmp_path / "esrf.nx"), "entry0000")
    scan = io.read_nxtomo(tmp_path / "esrf.nx")
    assert np.array_equal(scan.data, prj) and np.array_equal(scan.flat, flat)
    assert np.array_equal(scan.dark, dark) and scan.energy == pytest.approx(19.0)
    np.testing.assert_array_max_ulp(scan.theta, THETA, maxulp=1)


def test_the_nxtomo_package_reads_what_we_write(written, stacks):
    nxtomo = pytest.importorskip("nxtomo")
    loaded = nxtomo.NXtomo().load(str(written), "entry0000")
    detector = loaded.instrument.detector
    assert [int(k.value) for k in detector.image_key] == [2] * 2 + [1] * 3 + [0] * 12
    assert np.allclose(loaded.sample.rotation_angle.to("rad").magnitude[5:], THETA)
    assert detector.x_pixel_size.to("m").magnitude == pytest.approx(6.5e-6)
    assert loaded.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(17.5)
    assert detector.x_rotation_axis_pixel_position == pytest.approx(7.25)


def test_file_without_projections_is_refused(tmp_path, stacks):
    path = tmp_path / "flats_only.nx"
    with h5py.File(path, "w") as f:
        f["entry/definition"] = "NXtomo"
        f["entry/instrument/detector/data"] = stacks[1]
        f["entry/instrument/detector/image_key"] = [1, 1, 2]
    with pytest.raises(ValueError, match=r"flats_only\.nx'.* no projections .*image_key 0"):
        io.read_nxtomo(path)


def test_data_exchange_file_is_not_nxtomo(tmp_path, stacks):
    path = tmp_path / "dx.h5"
    io.write_dx(path, stacks[0], theta=THETA)
    with pytest.raises(ValueError, match=r"dx\.h5' has no NXtomo entry.*Data Exchange"):
        io.read_nxtomo(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: h5py.File(p, "w").close(), r"empty\.nx' has no NXtomo entry"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
         r"empty\.nx' is not an HDF5 file"),
    ],
)
def test_wrong_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "empty.nx"
    make(path)
    with pytest.raises(ValueError, match=message):
        io.read_nxtomo(path)


def test_truncated_file_is_refused(written, truncate):
    truncate(written, written)
    with pytest.raises(ValueError, match=r"scan\.nx' could not be opened .*truncated"):
        io.read_nxtomo(written)


def test_lengths_that_disagree_are_refused(tmp_path, stacks):
    path = tmp_path / "bad.nx"
    with h5py.File(path, "w") as f:
        f["entry/definition"] = "NXtomo"
        f["entry/instrument/detector/data"] = stacks[0]
        f["entry/instrument/detector/image_key"] = np.zeros(11, int)
    with pytest.raises(ValueError, match="image_key .* has 11 values but .* 12 frames"):
        io.read_nxtomo(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_nxtomo(tmp_path / "nope.nx")


def test_writer_validates_its_arguments(tmp_path, stacks):
    with pytest.raises(ValueError, match="theta has 11 angles but data holds 12"):
        io.write_nxtomo(tmp_path / "x.nx", stacks[0], theta=THETA[:-1])
    with pytest.raises(ValueError, match="flat frames must be"):
        io.write_nxtomo(tmp_path / "x.nx", stacks[0], flat=stacks[1][:, :2])
    with pytest.raises(ValueError, match="energy must be a positive"):
        io.write_nxtomo(tmp_path / "x.nx", stacks[0], energy=-1)
    assert not (tmp_path / "x.nx").exists()
