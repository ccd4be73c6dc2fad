"""The Bragg results' file round trip and figure."""

import numpy as np
import pytest

from cdi_plugins.bragg import BraggGeometry, postprocess, read_bragg, save_bragg_report, write_bragg
from cdi_plugins.simulate import crystal_object_3d
from tomopy_dlalign.common.process import read_process

GEOMETRY = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1.0, pixel_size=55e-6,
                         rocking_step=0.005)


@pytest.mark.parametrize("orthogonal", [False, True])
def test_file_round_trip_is_exact(tmp_path, orthogonal):
    res = postprocess(crystal_object_3d(16, seed=1), GEOMETRY, orthogonal=orthogonal)
    path = tmp_path / "strain.h5"
    write_bragg(path, res)
    back = read_bragg(path)
    assert np.array_equal(back.object, res.object.astype(np.complex64))
    assert np.array_equal(back.support, res.support)
    for name in ("phase", "displacement", "strain"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    np.testing.assert_array_equal(back.ramp.gradient, res.ramp.gradient)
    assert back.ramp.offset == res.ramp.offset and back.ramp.centre == res.ramp.centre
    np.testing.assert_array_equal(back.basis, res.basis)
    np.testing.assert_array_equal(back.shift, res.shift)
    assert back.geometry == GEOMETRY and back.frame == res.frame
    assert back.parameters["orthogonal"] is orthogonal
    record = read_process(path)
    assert record.state == "phased" and record.steps[-1].name == "bragg"


def test_without_geometry_the_file_holds_no_displacement(tmp_path):
    res = postprocess(crystal_object_3d(16, seed=1))
    write_bragg(tmp_path / "r.h5", res)
    back = read_bragg(tmp_path / "r.h5")
    assert back.displacement is None and back.strain is None and back.geometry is None


def test_reading_a_file_without_a_bragg_result_names_what_is_missing(tmp_path):
    from cdi_plugins import io

    io.write_dx(tmp_path / "p.h5", np.ones((8, 8), np.float32))
    with pytest.raises((KeyError, ValueError), match="bragg"):
        read_bragg(tmp_path / "p.h5")


def test_report_png_is_written(tmp_path):
    res = postprocess(crystal_object_3d(16, seed=1), GEOMETRY, orthogonal=True)
    save_bragg_report(res, tmp_path / "bragg.png")
    save_bragg_report(postprocess(crystal_object_3d(16, seed=1)), tmp_path / "phase.png")
    for name in ("bragg.png", "phase.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="result must be a BraggResult"):
        save_bragg_report(None, tmp_path / "x.png")
