"""CXI and Data Exchange files: layout, bit-exact round trips, atomic writes, bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins import io


@pytest.fixture
def pattern(rng):
    intensity = rng.poisson(5.0, (32, 32)).astype(np.float32) * np.float32(1.37)
    mask = np.zeros((32, 32), bool)
    mask[14:18, 14:18] = True
    return intensity, mask


GEOM = io.Geometry(wavelength=1.5498e-10, distance=5.0, pixel_size=75e-6)


def test_cxi_round_trip_is_bit_exact_with_pynx_layout(tmp_path, pattern):
    intensity, mask = pattern
    path = tmp_path / "p.cxi"
    io.write_cxi(path, intensity, mask, GEOM)
    back, m = io.read_cxi(path)
    assert back.dtype == np.float32 and np.array_equal(back, intensity)
    np.testing.assert_array_equal(m, mask)
    with h5py.File(path) as f:
        assert f["cxi_version"][()] == 140
        link = f["entry_1/data_1"].get("data", getlink=True)
        assert isinstance(link, h5py.SoftLink)
        assert link.path == "/entry_1/instrument_1/detector_1/data"
        assert f["entry_1/instrument_1/source_1/energy"][()] == pytest.approx(GEOM.energy)
        assert f["entry_1/instrument_1/detector_1/x_pixel_size"][()] == 75e-6
    g = io.read_cxi_geometry(path)
    assert g.wavelength == GEOM.wavelength and g.distance == 5.0 and g.pixel_size == 75e-6


def test_cxi_mask_bit_field_and_image_1_fallback(tmp_path, pattern):
    intensity, _ = pattern
    path = tmp_path / "other.cxi"
    bits = np.zeros((32, 32), np.uint32)
    bits[0, 0], bits[1, 1], bits[2, 2] = 2, 16, 512  # saturated, shadowed, missing
    with h5py.File(path, "w") as f:
        f["entry_1/image_1/data"] = intensity
        f["entry_1/image_1/mask"] = bits
    back, m = io.read_cxi(path)
    assert np.array_equal(back, intensity)
    assert m.sum() == 3 and m[0, 0] and m[2, 2]
    assert io.read_cxi_geometry(path) is None


def test_geometry_from_energy_when_the_wavelength_is_missing(tmp_path, pattern):
    path = tmp_path / "e.cxi"
    io.write_cxi(path, pattern[0], geometry=GEOM)
    with h5py.File(path, "a") as f:
        del f["entry_1/instrument_1/beam_1/incident_wavelength"]
    assert io.read_cxi_geometry(path).wavelength == pytest.approx(GEOM.wavelength, rel=1e-12)


def test_dx_pattern_round_trip_is_bit_exact(tmp_path, pattern):
    intensity, mask = pattern
    path = tmp_path / "p.h5"
    io.write_dx(path, intensity, mask, GEOM, parameters={"source": "test"})
    back, m, g = io.read_dx(path)
    assert np.array_equal(back, intensity) and back.dtype == intensity.dtype
    np.testing.assert_array_equal(m, mask)
    assert g == GEOM
    with h5py.File(path) as f:
        assert "version" in f["process/cdi_plugins"].attrs


def test_phasing_result_round_trip_beside_the_data(tmp_path, pattern):
    intensity, mask = pattern
    res = cdi.phase_retrieval(intensity, mask=mask, algorithm="HIO**3*ER**2", n_runs=2, seed=4,
                              device="cpu")
    path = tmp_path / "data.h5"
    io.write_dx(path, intensity, mask)
    io.write_result(path, res, mode="a")
    back = io.read_result(path)
    assert np.array_equal(back.objects, res.objects) and back.objects.dtype == np.complex64
    assert np.array_equal(back.supports, res.supports)
    assert np.array_equal(back.chi2, res.chi2)
    assert back.schedule == res.schedule and back.seed == 4
    assert back.parameters["n_runs"] == 2
    data, m, _ = io.read_dx(path)  # the input data is still there
    assert np.array_equal(data, intensity)
    with h5py.File(path) as f:
        assert f["exchange/object_phase"].attrs["units"] == "rad"


def test_failed_write_leaves_the_existing_file_untouched(tmp_path, pattern):
    intensity, mask = pattern
    path = tmp_path / "keep.cxi"
    io.write_cxi(path, intensity, mask)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        io.write_cxi(path, intensity, np.zeros((3, 3), bool))
    with pytest.raises(TypeError):
        io.write_result(path, "not a result")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.cxi"]


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_cxi(tmp_path / "missing.cxi")
    txt = tmp_path / "text.cxi"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5"):
        io.read_cxi(txt)
    empty = tmp_path / "empty.cxi"
    with h5py.File(empty, "w") as f:
        f["x"] = 1
    with pytest.raises(KeyError, match="no CXI pattern"):
        io.read_cxi(empty)
    with pytest.raises(ValueError, match="wavelength"):
        io.Geometry(wavelength=-1.0, distance=1.0, pixel_size=1e-5)
