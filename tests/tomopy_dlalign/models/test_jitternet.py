import os
import stat

import numpy as np
import pytest
import torch

from tomopy_dlalign.models.jitternet import (
    DEFAULT_WEIGHTS,
    JitterNet,
    JitterNetConfig,
    load_model,
    normalize_pairs,
    predict,
    resize_pairs,
    save_model,
)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return JitterNet(JitterNetConfig(size=32, widths=(8, 16, 32))).eval()


def test_output_shape_is_two_shifts_per_pair(net):
    assert net(torch.randn(5, 2, 32, 32)).shape == (5, 2)


def test_network_has_the_papers_13_convolutions(net):
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(convs) == 13
    assert convs[0].kernel_size == (7, 7) and all(c.kernel_size == (3, 3) for c in convs[1:])


def test_prediction_is_deterministic(net, rng):
    m = rng.random((6, 40, 48)).astype(np.float32)
    r = rng.random((6, 40, 48)).astype(np.float32)
    a = predict(net, m, r)
    b = predict(net, m, r)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_prediction_does_not_depend_on_the_rest_of_the_batch(net, rng):
    m = rng.random((9, 32, 32)).astype(np.float32)
    r = rng.random((9, 32, 32)).astype(np.float32)
    m[5:] *= 100  # other pairs of very different scale share the batch
    alone = predict(net, m[:1], r[:1])
    together = predict(net, m, r, batch_size=9)
    assert np.allclose(alone[0][0], together[0][0], atol=1e-5)
    assert np.allclose(alone[1][0], together[1][0], atol=1e-5)


def test_each_pair_is_normalised_on_its_own():
    x = torch.randn(3, 2, 8, 8) * torch.tensor([1.0, 50.0, 0.01])[:, None, None, None] + 7
    n = normalize_pairs(x)
    assert torch.allclose(n.mean(dim=(2, 3)), torch.zeros(3, 2), atol=1e-3)
    assert torch.allclose(n.std(dim=(2, 3)), torch.ones(3, 2), atol=1e-3)


def test_resize_handles_non_square_and_large_images():
    small, scale = resize_pairs(torch.randn(2, 2, 512, 2048), 64)
    assert small.shape == (2, 2, 64, 64) and scale == (32.0, 8.0)
    same, scale = resize_pairs(torch.randn(1, 2, 64, 64), 64)
    assert scale == (1.0, 1.0)


def test_save_and_load_round_trip(tmp_path, net, rng):
    path = tmp_path / "w.safetensors"
    save_model(net, path, card={"seed": 1})
    back = load_model(path)
    x = torch.randn(2, 2, 32, 32)
    assert torch.equal(back(x), net(x))
    assert (tmp_path / "w.json").exists()


def test_saved_weights_get_the_umask_permissions_like_the_model_card(tmp_path, net):
    old = os.umask(0o022)
    try:
        save_model(net, tmp_path / "w.safetensors", card={"seed": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "w.json").stat().st_mode) == 0o644


def test_corrupt_weights_file_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(bad)


def test_weights_of_another_model_give_clear_error(tmp_path):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"model": "SomethingElse"})
    with pytest.raises(ValueError, match="does not hold JitterNet weights"):
        load_model(other)
    mism = tmp_path / "mism.safetensors"
    save_file({"w": torch.zeros(3)}, str(mism),
              metadata={"model": "JitterNet", "config": JitterNetConfig().to_json()})
    with pytest.raises(ValueError, match="does not match the JitterNet architecture"):
        load_model(mism)


def test_missing_weights_file_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "none.safetensors")


def test_shipped_weights_load_offline_with_a_model_card():
    import json

    model = load_model()
    assert isinstance(model, JitterNet)
    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    for key in ("command", "seed", "validation_rmse_px", "training_seconds", "data"):
        assert key in card
