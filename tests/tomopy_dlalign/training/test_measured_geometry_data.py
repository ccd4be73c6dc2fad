"""Training data for measured geometries: truncated samples, off-centre axes, limited,
full-turn and uneven angles, and detector artefacts."""

import h5py
import numpy as np
import pytest

from tomopy_dlalign import simulate
from tomopy_dlalign.prep.registration import phase_correlation
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset, scan_geometry

MEASURED = dict(n_volumes=4, families=("nanoparticles", "cells"), size=32, nslice=16,
                nproj=24, jitter=3.0, wide=1.5, axis_offset=4.0,
                angles=("half", "limited", "full", "uneven"), artefacts=1.0, seed=3)


def test_default_geometry_draws_nothing_so_older_datasets_reproduce():
    rng = np.random.default_rng(0)
    theta, width, offset = scan_geometry(rng, DatasetConfig(nproj=12, size=32))
    assert width == 32 and offset == 0.0
    np.testing.assert_allclose(theta, np.linspace(0, np.pi, 12, endpoint=False))
    assert rng.random() == np.random.default_rng(0).random()


@pytest.mark.parametrize("kind, span", [("limited", (120, 140)), ("full", (345, 360)),
                                        ("uneven", (150, 180))])
def test_each_angle_kind_spans_its_range(kind, span):
    cfg = DatasetConfig(nproj=40, size=32, angles=(kind,))
    theta, _, _ = scan_geometry(np.random.default_rng(1), cfg)
    assert span[0] <= np.degrees(np.ptp(theta)) <= span[1]
    assert np.all(np.diff(theta) > 0)


def test_truncated_off_axis_dataset_keeps_the_view_and_targets_match_the_pairs(tmp_path):
    path = make_dataset(tmp_path / "measured.h5", DatasetConfig(**MEASURED))
    with h5py.File(path) as f:
        pairs, targets = f["pairs"][:].astype(np.float32), f["targets"][:]
    assert pairs.shape == (4 * 24, 2, 16, 32) and np.isfinite(pairs).all()
    assert np.abs(targets[:, 0]).max() <= 3.0 + 1e-6
    # the targets are the shifts between each measured image and its blurred reference
    # (an MLEM of the jittered scan): a registration follows them, if loosely on 32 px
    ex, ey = phase_correlation(pairs[:, 0], pairs[:, 1])
    assert np.corrcoef(ex, targets[:, 0])[0, 1] > 0.4
    assert np.corrcoef(ey, targets[:, 1])[0, 1] > 0.4


def test_artefacts_are_rings_a_drift_and_dead_pixels():
    prj = np.zeros((50, 4, 64), np.float32)
    rings = simulate.add_artefacts(prj, rings=0.05, seed=1)
    assert np.allclose(rings, rings[0]) and 0.03 < rings.std() < 0.07
    drift = simulate.add_artefacts(prj, drift=0.1, seed=1)
    per_projection = drift.mean(axis=(1, 2))
    assert np.abs(per_projection).max() == pytest.approx(0.1, rel=1e-5)
    assert np.allclose(drift, per_projection[:, None, None])
    smooth = np.random.default_rng(2).random(prj.shape).astype(np.float32)
    dead = simulate.add_artefacts(smooth, dead=0.05, seed=1)
    stuck = (dead == dead.max()).all(axis=0)
    assert 0.01 < stuck.mean() < 0.1


def test_bad_artefact_and_geometry_settings_are_refused():
    with pytest.raises(ValueError, match="rings must be non-negative"):
        simulate.add_artefacts(np.zeros((2, 2, 2)), rings=-1)
    with pytest.raises(ValueError, match="angles must be among"):
        DatasetConfig(angles=("quarter",))
    with pytest.raises(ValueError, match="wide >= 1"):
        DatasetConfig(wide=0.5)
