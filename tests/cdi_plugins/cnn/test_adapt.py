"""Fine-tuning the CNN on a scan's own frames: better on held-out frames, or unchanged."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from cdi_plugins import cli, cnn, io
from cdi_plugins.cnn.adapt import frame_r_factors
from cdi_plugins.simulate import faceted

pytestmark = pytest.mark.usefixtures("one_thread")




def _series(n=24):
    b = faceted.generate(n, faceted.FacetedConfig(gap_fraction=0.0), seed=5)
    return b.intensity


def test_adapting_lowers_the_held_out_r_factor():
    frames = _series()
    mask = np.zeros(frames.shape[1:], bool)
    mask[:, 50:52] = True
    info = {}
    net = cnn.adapt(frames, mask, epochs=15, lr=3e-4, info=info)
    assert info["kept"] == "adapted" and info["n_holdout"] == 6
    assert info["adapted_r"] < 0.9 * info["start_r"]
    # the figures are the held-out frames' R of the weights that came back
    hold = np.sort(np.random.default_rng(0).permutation(24)[:6])
    r = frame_r_factors(net, frames[hold], np.broadcast_to(mask, frames[hold].shape))
    assert r.mean() == pytest.approx(info["adapted_r"], rel=1e-5)


def test_weights_that_do_not_predict_better_are_not_kept(tmp_path, caplog):
    frames = _series(8)
    start = cnn.load_model()
    before = {k: v.clone() for k, v in start.state_dict().items()}
    info = {}
    out = tmp_path / "a.safetensors"
    with caplog.at_level(logging.WARNING):
        net = cnn.adapt(frames, epochs=3, lr=0.5, info=info, output=out)   # wrecked
    assert info["kept"] == "start" and info["adapted_r"] >= info["start_r"]
    assert net is start
    assert all(np.array_equal(v, before[k]) for k, v in net.state_dict().items())
    assert "keeping the starting weights" in caplog.text
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["adaptation"]["kept"] == "start"
    assert card["adaptation"]["command"].startswith("cdi_plugins.cnn.adapt(epochs=3")
    assert card["command"] == start.card["command"]        # the training's, kept
    again = cnn.load_model(out)
    assert all(np.array_equal(v, before[k]) for k, v in again.state_dict().items())


@pytest.mark.parametrize("frames, mask, word", [
    (np.ones((3, 64, 64), np.float32), None, "at least 4 frames"),
    (np.ones((4, 64, 64), np.float32), np.zeros((4, 32, 32), bool), "mask"),
    (np.ones((64, 64), np.float32), None, "intensity"),
    (np.full((4, 64, 64), np.nan, np.float32), None, "intensity"),
])
def test_bad_frames_are_refused_by_name(frames, mask, word):
    with pytest.raises(ValueError, match=word):
        cnn.adapt(frames, mask, epochs=1)


def test_larger_frames_are_fitted_alike():
    b = faceted.generate(4, faceted.FacetedConfig(size=128, gap_fraction=0), seed=1)
    info = {}
    cnn.adapt(b.intensity, epochs=1, info=info)
    assert info["n_train"] + info["n_holdout"] == 4


def test_cli_adapts_on_a_scan_and_predicts_a_frame(tmp_path, capsys):
    frames = _series(12)
    mask = np.zeros(frames.shape, bool)
    scan = tmp_path / "scan.cxi"
    io.write_cxi(scan, frames, mask)
    out = tmp_path / "adapted.safetensors"
    assert cli.main(["cnn", "adapt", str(scan), "-o", str(out), "--epochs", "4"]) == 0
    said = capsys.readouterr().out
    assert "held-out frames (3)" in said and out.exists()
    assert cli.main(["cnn", "predict", str(scan), "--model", str(out), "--frame", "2",
                     "--refine", "--runs", "1"]) == 0
    said = capsys.readouterr().out
    assert "CNN R = " in said and "Poisson LLK" in said and "refinement" in said
    with pytest.raises(SystemExit) as exc:
        cli.main(["cnn", "predict", str(scan), "--frame", "12"])
    assert exc.value.code == 2
    assert "--frame must be from 0 to 11" in capsys.readouterr().err
    pattern = tmp_path / "one.cxi"
    io.write_cxi(pattern, frames[0])
    with pytest.raises(SystemExit) as exc:
        cli.main(["cnn", "adapt", str(pattern), "-o", str(tmp_path / "b.safetensors")])
    assert exc.value.code == 2
    assert "series of frames" in capsys.readouterr().err


def test_training_can_start_from_the_shipped_weights(tmp_path):
    from cdi_plugins.cnn import training
    from cdi_plugins.simulate import superellipsoid as se

    data = se.make_dataset(tmp_path / "f.h5", 96, seed=1,
                           config=faceted.FacetedConfig(), chunk=96)
    out = tmp_path / "ft.safetensors"
    net = training.train(data, out, epochs=1, batch_size=32, lr=1e-4, show_progress=False,
                         init=cnn.DEFAULT_WEIGHTS, device="cpu")
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["initialised_from"] == str(cnn.DEFAULT_WEIGHTS)
    assert card["data"]["generator"]["kind"] == "faceted"
    shipped = cnn.load_model()
    # two steps at a low rate: still the shipped network's weights, slightly moved
    diffs = [float((a - b).detach().abs().max()) for a, b in
             zip(net.parameters(), shipped.parameters(), strict=True)]
    assert 0 < max(diffs) < 0.05


def test_cli_makes_faceted_data_and_fine_tunes_from_weights(tmp_path):
    data = tmp_path / "f.h5"
    assert cli.main(["cnn", "make-dataset", "-o", str(data), "--kind", "faceted", "--n", "80",
                     "--seed", "3", "--chunk", "40", "--photons-range", "1e5", "1e6",
                     "--no-progress"]) == 0
    with __import__("h5py").File(data) as f:
        cfg = json.loads(f.attrs["config"])
    assert cfg["kind"] == "faceted" and cfg["photons"] == [1e5, 1e6]
    out = tmp_path / "ft.safetensors"
    assert cli.main(["cnn", "train", str(data), "-o", str(out), "--init",
                     str(cnn.DEFAULT_WEIGHTS), "--epochs", "1", "--batch-size", "32",
                     "--lr", "1e-5", "--no-progress"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["initialised_from"] == str(cnn.DEFAULT_WEIGHTS)


def test_the_shipped_bragg_network_predicts_faceted_frames_better():
    bragg = cnn.load_model("bragg")
    card = bragg.card
    assert card["initialised_from"].endswith("cnn.safetensors")
    assert card["data"]["generator"]["kind"] == "faceted" and "--init" in card["command"]
    assert card["test"]["seed"] != card["data"]["train_seed"]
    b = faceted.generate(64, faceted.FacetedConfig(), seed=2027)       # unseen crystals
    chi = {name: cnn.modulus_chi2(b.intensity, *cnn.predict(b.intensity, model=name)).mean()
           for name in (None, "bragg")}
    assert chi["bragg"] < 0.7 * chi[None]


def test_an_interrupted_adaptation_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import sys

    frames = _series(12)
    straight = cnn.adapt(frames, epochs=5, lr=3e-4, checkpoint=tmp_path / "a.ckpt")
    module = sys.modules["cdi_plugins.cnn.adapt"]
    # interrupted before a batch's forward pass (one mid-pass would leave the batch
    # norms' running statistics counted twice on resuming)
    real, calls = module.normalize_pattern, {"n": 0}

    def interrupting(*args):
        calls["n"] += 1
        if calls["n"] == 3:  # the third epoch's batch: 9 training frames, one batch each
            raise KeyboardInterrupt
        return real(*args)

    ckpt = tmp_path / "b.ckpt"
    monkeypatch.setattr(module, "normalize_pattern", interrupting)
    with pytest.raises(KeyboardInterrupt):
        cnn.adapt(frames, epochs=5, lr=3e-4, checkpoint=ckpt)
    assert ckpt.exists()
    monkeypatch.setattr(module, "normalize_pattern", real)
    info = {}
    resumed = cnn.adapt(frames, epochs=5, lr=3e-4, checkpoint=ckpt, info=info)
    assert info["epochs_run"] == 5
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    # a checkpoint of other settings is refused by name, not resumed
    with pytest.raises(ValueError, match="lr=0.001 differs"):
        cnn.adapt(frames, epochs=5, lr=1e-3, checkpoint=ckpt)
