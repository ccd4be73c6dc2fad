"""The on-disk cache of the cpu projector's system matrices."""

import logging
import os

import numpy as np
import pytest

from tomopy_dlalign.recon import matrix_cache, projectors

pytest.importorskip("astra")
import astra  # noqa: E402

THETA = np.linspace(0, np.pi, 17, endpoint=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(matrix_cache.CACHE_ENV, str(tmp_path / "m"))
    return tmp_path / "m"


def key(theta=THETA, ncol=24, center=12.0):
    return matrix_cache.geometry_key(theta, ncol, center, astra.__version__)


def test_saved_matrices_read_back_equal_to_astras(cache):
    mat = projectors.system_matrix(THETA, 24, 12.0)
    matrix_cache.save(key(), mat, mat.T.tocsr())
    a, at = matrix_cache.load(key())
    assert (a != mat).nnz == 0 and (at != mat.T).nnz == 0
    x = np.random.default_rng(0).random(24 * 24).astype(np.float32)
    np.testing.assert_allclose(a @ x, mat @ x, rtol=1e-6)


def test_projector_writes_then_reuses_the_disk_entry(cache):
    theta = THETA + 0.0123  # a geometry no other test builds in this process
    projectors.make_projector(theta, 24, 12.0, backend="cpu")
    assert matrix_cache.load(key(theta)) is not None
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 1


def test_every_part_of_the_geometry_changes_the_key():
    keys = {key(), key(THETA[:-1]), key(ncol=25), key(center=12.5),
            matrix_cache.geometry_key(THETA, 24, 12.0, "0.0")}
    assert len(keys) == 5


def test_a_corrupt_entry_is_reported_removed_and_rebuilt(cache, caplog):
    mat = projectors.system_matrix(THETA, 24, 12.0)
    matrix_cache.save(key(), mat, mat.T.tocsr())
    entry = cache / key()[:40]
    (entry / "a_indices.npy").write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        assert matrix_cache.load(key()) is None
    assert "unreadable" in caplog.text and not entry.exists()


def test_a_mismatched_key_is_not_used(cache):
    mat = projectors.system_matrix(THETA, 24, 12.0)
    matrix_cache.save(key(), mat, mat.T.tocsr())
    (cache / key()[:40] / "key.txt").write_text("something else")
    assert matrix_cache.load(key()) is None


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_the_environment_variable_turns_the_disk_cache_off(monkeypatch, value):
    monkeypatch.setenv(matrix_cache.CACHE_ENV, value)
    assert matrix_cache.cache_dir() is None
    mat = projectors.system_matrix(THETA, 24, 12.0)
    matrix_cache.save(key(), mat, mat.T.tocsr())  # a no-op
    assert matrix_cache.load(key()) is None


def test_default_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv(matrix_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert matrix_cache.cache_dir() == tmp_path / "tomopy_dlalign" / "matrices"


def test_least_recently_used_entries_are_evicted(cache, monkeypatch):
    monkeypatch.setattr(matrix_cache, "MAX_FILES", 2)
    mat = projectors.system_matrix(THETA, 24, 12.0)
    for age, c in enumerate((10.0, 11.0, 12.0)):
        matrix_cache.save(key(center=c), mat, mat.T.tocsr())
        os.utime(cache / key(center=c)[:40], (1e9 + age, 1e9 + age))
    names = {p.name for p in cache.iterdir() if not p.name.startswith(".")}
    assert len(names) == 2 and key(center=10.0)[:40] not in names
