"""The ``cdi-plugins cnn`` commands: make-dataset, train, predict, evaluate, errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from cdi_plugins import cli, io
from cdi_plugins.simulate import superellipsoid as se

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_make_dataset_train_evaluate_chain(tmp_path):
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    assert cli.main(["cnn", "make-dataset", str(train), "--n", "160", "--seed", "1",
                     "--chunk", "80", "--no-progress"]) == 0
    assert cli.main(["cnn", "make-dataset", str(test), "--n", "40", "--seed", "2",
                     "--chunk", "40", "--no-progress"]) == 0
    weights = tmp_path / "tiny.safetensors"
    assert cli.main(["cnn", "train", str(train), "--test", str(test), "-o", str(weights),
                     "--epochs", "1", "--batch-size", "32", "--encoder", "4", "8", "8", "16",
                     "--decoder", "8", "4", "--no-progress"]) == 0
    card = __import__("json").loads(weights.with_suffix(".json").read_text())
    assert card["data"]["train_seed"] == 1 and card["test"]["seed"] == 2
    assert card["training"]["epochs_run"] == 1 and "chi2_phase" in card["test"]
    rep = tmp_path / "rep"
    assert cli.main(["cnn", "evaluate", str(test), "--model", str(weights), "--train",
                     str(train), "--refine-patterns", "1", "--starts", "1", "--iters", "40",
                     "--report", str(rep), "--json", str(tmp_path / "e.json"),
                     "--no-progress"]) == 0
    for name in ("cnn_gallery.png", "nns_gallery.png", "cnn_chi2_hist.png",
                 "cnn_refine_chi2.png", "cnn_training.png"):
        assert (rep / name).read_bytes()[:4] == b"\x89PNG", name


def test_evaluate_refuses_test_data_with_the_training_seed(tmp_path):
    from cdi_plugins import cnn
    from cdi_plugins.cnn.model import CNNConfig, ComplexCNN

    data = tmp_path / "train.h5"
    se.make_dataset(data, 8, seed=1, chunk=8)
    weights = tmp_path / "w.safetensors"
    net = ComplexCNN(CNNConfig(encoder=(4, 8, 8, 16), decoder=(8, 4)))
    cnn.save_model(net, weights, {"data": {"train_seed": 1}})
    with pytest.raises(SystemExit) as exc:
        cli.main(["cnn", "evaluate", str(data), "--model", str(weights), "--no-progress"])
    assert exc.value.code == 2


def test_predict_cxi_pattern_with_refinement(tmp_path, capsys):
    b = se.generate(1, seed=77)
    pattern, out = tmp_path / "p.cxi", tmp_path / "pred.h5"
    io.write_cxi(pattern, b.intensity[0])
    assert cli.main(["cnn", "predict", str(pattern), "-o", str(out), "--refine", "--runs",
                     "1", "--device", "cpu", "--report", str(tmp_path / "rep")]) == 0
    said = capsys.readouterr().out
    assert "CNN R = " in said and "chi2 = " in said and "refined R = " in said
    with h5py.File(out) as f:
        assert f["exchange/cnn_amplitude"].shape == (32, 32)
        unwrapped = f["exchange/cnn_phase_unwrapped"][()]
        assert np.isfinite(unwrapped).any() and np.isnan(unwrapped).any()
        assert f["exchange/object"].shape == (1, 64, 64)
    assert (tmp_path / "rep" / "cnn_prediction.png").exists()


@pytest.mark.parametrize("shape", [(48, 48), (64, 46)])
def test_predict_too_small_pattern_names_the_commands_that_make_one(tmp_path, capsys, shape):
    pattern = tmp_path / "small.cxi"
    io.write_cxi(pattern, np.ones(shape, np.float32))
    with pytest.raises(SystemExit) as exc:
        cli.main(["cnn", "predict", str(pattern)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"got {shape}" in err
    assert "cdi-plugins simulate -o pattern.cxi --size 64" in err
    assert "cdi-plugins prepare FRAMES -o pattern.cxi --size 64" in err


def test_predict_takes_a_larger_pattern_and_records_the_effective_pixel(tmp_path, capsys):
    pattern, out = tmp_path / "p.cxi", tmp_path / "pred.h5"
    assert cli.main(["simulate", "-o", str(pattern), "--object", "crystal", "--size", "128",
                     "--photons", "1e8", "--seed", "1"]) == 0
    assert cli.main(["cnn", "predict", str(pattern), "-o", str(out)]) == 0
    geom = io.read_cxi_geometry(pattern)
    # an oversampling-2 pattern is cropped: same field of view, pixels twice as coarse
    expected = geom.real_space_pixel(128) * 2
    assert f"real-space pixel {expected * 1e9:.1f} nm" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert f["exchange/data"].shape == (64, 64)
        assert f["exchange/cnn_amplitude"].attrs["pixel_size"] == pytest.approx(expected)
        params = json.loads(f["process/cdi_plugins_cnn"].attrs["parameters"])
    assert params["input_fit"]["binning"] == 1 and params["input_fit"]["crop"] == 64
    assert params["input_fit"]["pixel_scale"] == 2.0


def test_evaluate_scores_cnn_and_nns_on_held_out_file(tmp_path):
    from cdi_plugins.cnn import evaluate as cnn_eval

    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    se.make_dataset(train, 64, seed=31, chunk=64)
    se.make_dataset(test, 16, seed=32, chunk=16)
    out = cnn_eval.evaluate(test, train=train, output=tmp_path / "e.json")
    for k in ("chi2_modulus", "chi2_amplitude", "chi2_phase"):
        assert 0 < out["cnn"][k]["mean"] < 1 and 0 < out["nns"][k]["mean"]
    assert out["timing"]["batched_ms"] > 0 and out["nns"]["ms_per_pattern"] > 0
    assert (tmp_path / "e.json").exists()
