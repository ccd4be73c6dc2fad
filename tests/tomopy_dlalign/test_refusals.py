"""Public tomography functions, readers and model files refuse what they cannot honour,
naming the argument, instead of returning a silently wrong result."""

import json
import time

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tomopy_dlalign import fbp, io, mlem
from tomopy_dlalign.common.validation import as_array
from tomopy_dlalign.models.jitternet import JitterNetConfig, load_model

THETA = np.linspace(0, np.pi, 8, endpoint=False)


def test_complex_projections_are_refused_not_truncated():
    prj = np.ones((8, 2, 16), np.complex64)
    for func in (fbp, mlem):
        with pytest.raises(TypeError, match="must be real, got complex"):
            func(prj, THETA)


def test_values_beyond_float32_are_named():
    with pytest.raises(ValueError, match="tomo holds 1 values beyond the float32 range"):
        as_array(np.array([1.0, 1e39]), "tomo")


def _weights(path, config, model="JitterNet"):
    save_file({"x": torch.zeros(1)}, str(path), metadata={"model": model, "config": config})
    return path


@pytest.mark.parametrize("config, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"widths": 7}', "list of 1 to 8 integers"),
    ('{"widths": ["a", 2, 3]}', "must hold int values"),
    ('{"size": 64.5}', "must hold int values"),
    ('{"widths": [100000, 100000, 100000]}', "outside"),
    ('{"blocks_per_stage": 1000}', "outside"),
    ('{"rm -rf": 1}', "unknown keys"),
])
def test_crafted_weights_metadata_is_refused_before_any_allocation(tmp_path, config, match):
    path = _weights(tmp_path / "w.safetensors", config)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=match) as exc:
        load_model(path)
    assert "w.safetensors" in str(exc.value)
    assert time.perf_counter() - t0 < 5  # nothing of gigabytes was built


def test_config_arguments_are_bounded_too():
    with pytest.raises(ValueError, match="outside"):
        JitterNetConfig(widths=(10**6, 10**6, 10**6))


def _scan(path, theta_values, units=None):
    io.write_dx(path, np.ones((len(theta_values), 2, 8), np.float32))
    with h5py.File(path, "a") as f:
        f["exchange/theta"] = theta_values
        if units:
            f["exchange/theta"].attrs["units"] = units
    return path


def test_radians_in_the_degree_field_are_warned_about(tmp_path):
    path = _scan(tmp_path / "s.h5", np.linspace(0, np.pi, 9))
    with pytest.warns(UserWarning, match="looks like radians.*units='rad'"):
        io.read_dx(path)


def test_theta_units_attribute_in_radians_is_honoured(tmp_path):
    rad = np.linspace(0, np.pi, 9)
    theta = io.read_dx(_scan(tmp_path / "s.h5", rad, units="rad"))[3]
    assert np.allclose(theta, rad)


def test_degrees_stay_degrees_without_a_warning(tmp_path, recwarn):
    theta = io.read_dx(_scan(tmp_path / "s.h5", np.linspace(0, 180, 9)))[3]
    assert np.allclose(theta, np.linspace(0, np.pi, 9))
    assert not [w for w in recwarn if "radians" in str(w.message)]


def test_model_card_json_is_written_with_the_weights(tmp_path):
    from tomopy_dlalign.models.jitternet import JitterNet, save_model

    path = tmp_path / "w.safetensors"
    save_model(JitterNet(JitterNetConfig(widths=(4, 4, 4))), path, {"seed": 1})
    assert json.loads(path.with_suffix(".json").read_text()) == {"seed": 1}
    load_model(path)


def test_alignment_refuses_iters_below_one():
    from tomopy_dlalign import align, align_pc, align_reprojection

    prj = np.random.default_rng(0).random((8, 4, 16)).astype(np.float32)
    for func in (align, align_pc, align_reprojection):
        for iters in (0, -1):
            with pytest.raises(ValueError, match="iters must be a positive integer"):
                func(prj, THETA, iters=iters)
