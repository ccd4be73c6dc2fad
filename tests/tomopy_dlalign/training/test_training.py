import h5py
import numpy as np
import pytest
import torch

from tomopy_dlalign import simulate
from tomopy_dlalign.models.jitternet import JitterNetConfig, load_model
from tomopy_dlalign.training import dataset
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset
from tomopy_dlalign.training.train import train

SMALL = dict(n_volumes=3, families=("nanoparticles", "assembly"), size=32, nslice=16,
             nproj=16, jitter=3.0, seed=5)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "train.h5"
    return make_dataset(path, DatasetConfig(**SMALL))


def test_dataset_holds_pairs_targets_and_its_parameters(small_dataset):
    with h5py.File(small_dataset) as f:
        assert f["pairs"].shape == (48, 2, 16, 32)
        assert f["targets"].shape == (48, 2)
        assert np.abs(f["targets"][:, 0]).max() <= 3.0
        assert int(f.attrs["done"]) == 3 and "jitter" in f.attrs["config"]


def test_dataset_generation_resumes_after_an_interruption(tmp_path, small_dataset, monkeypatch):
    path = tmp_path / "resumed.h5"
    real = dataset.phantom
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "phantom", flaky)
    with pytest.raises(KeyboardInterrupt):
        make_dataset(path, DatasetConfig(**SMALL))
    with h5py.File(path) as f:
        assert int(f.attrs["done"]) == 2
    monkeypatch.setattr(dataset, "phantom", real)
    make_dataset(path, DatasetConfig(**SMALL))
    with h5py.File(path) as a, h5py.File(small_dataset) as b:
        assert np.array_equal(a["pairs"][()], b["pairs"][()])
        assert np.array_equal(a["targets"][()], b["targets"][()])


def test_dataset_with_other_settings_is_not_mixed_in(small_dataset):
    with pytest.raises(ValueError, match="another configuration"):
        make_dataset(small_dataset, DatasetConfig(**(SMALL | {"jitter": 4.0})))


def test_training_resumes_from_a_checkpoint_exactly(tmp_path, small_dataset):
    cfg = JitterNetConfig(size=16, widths=(4, 8, 8))
    kwargs = dict(batch_size=16, val_fraction=0.34, seed=3, config=cfg, patience=10)
    straight = train([small_dataset], tmp_path / "a.safetensors", epochs=2, **kwargs)
    train([small_dataset], tmp_path / "b.safetensors", epochs=1, **kwargs)
    resumed = train([small_dataset], tmp_path / "b.safetensors", epochs=2, **kwargs)
    assert resumed["stopped_after_epochs"] == 2 and len(resumed["history"]) == 2
    a = [h["val_mse"] for h in straight["history"]]
    b = [h["val_mse"] for h in resumed["history"]]
    assert np.allclose(a, b, rtol=1e-5)
    wa = load_model(tmp_path / "a.safetensors").state_dict()
    wb = load_model(tmp_path / "b.safetensors").state_dict()
    assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6) for k in wa)


def test_training_lowers_the_validation_error(tmp_path):
    # enough volumes that held-out ones can be predicted (3 volumes only get memorised)
    data = make_dataset(tmp_path / "learn.h5", DatasetConfig(**(SMALL | {"n_volumes": 6,
                                                                          "nproj": 32})))
    card = train([data], tmp_path / "c.safetensors", epochs=8, batch_size=16,
                 val_fraction=0.34, seed=0, lr=3e-3, patience=10,
                 config=JitterNetConfig(size=16, widths=(8, 16, 16)))
    first = card["history"][0]["val_mse"]
    assert min(h["val_mse"] for h in card["history"]) < 0.7 * first
    assert card["command"] and card["seed"] == 0


def test_phantom_families_fill_the_field_of_view_without_leaving_it():
    for family in simulate.FAMILIES:
        vol = simulate.phantom(family, 48, 24, seed=1)
        assert vol.shape == (24, 48, 48) and vol.max() == pytest.approx(1.0)
        yy, xx = np.mgrid[:48, :48]
        outside = (xx + 0.5 - 24) ** 2 + (yy + 0.5 - 24) ** 2 > 24**2
        assert vol[:, outside].max() == 0


def test_salt_and_pepper_noise_hits_the_requested_fraction(rng):
    prj = rng.random((4, 32, 32)).astype(np.float32) + 1
    noisy = simulate.add_noise(prj, "salt_pepper", 0.4, seed=0)
    assert abs(np.mean(noisy != prj) - 0.4) < 0.03
