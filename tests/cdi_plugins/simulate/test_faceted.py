"""Faceted, strained crystals as measured Bragg frames: the CNN's Bragg training data."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from cdi_plugins.simulate import faceted
from cdi_plugins.simulate import superellipsoid as se

pytestmark = pytest.mark.usefixtures("one_thread")

QUIET = dict(photons=None, gap_fraction=0.0)


def test_the_pattern_is_the_targets_fourier_intensity():
    b = faceted.generate(6, faceted.FacetedConfig(**QUIET), seed=0)
    obj = torch.from_numpy(se.complex_image(b.amplitude, b.phase))
    calc = se.pattern_from_image(obj, 64).numpy()
    # outside the support the target's phase is set to 0 (a small amplitude remains)
    err = np.abs(calc - b.intensity).sum(axis=(1, 2)) / b.intensity.sum(axis=(1, 2))
    assert err.max() < 0.05
    assert b.params.shape == (6, len(faceted.PARAMETERS))


def test_crystals_fit_the_target_and_are_flat_faced():
    b = faceted.generate(8, faceted.FacetedConfig(**QUIET), seed=1)
    m = 32
    yy, xx = np.mgrid[:m, :m] - m // 2
    r = np.hypot(yy, xx)
    for s in b.support:
        assert r[s].max() <= 0.40 * m + 3            # the corner radius plus the blur
    # a convex polyhedron projects to a convex polygon: its support fills its hull
    from scipy.spatial import ConvexHull
    for s in b.support:
        pts = np.argwhere(s)
        hull = ConvexHull(pts)
        assert s.sum() / hull.volume > 0.85


def test_the_zero_frequency_is_where_the_draw_put_it():
    cfg = faceted.FacetedConfig(photons=None, gap_fraction=0.0, bending=(0, 0),
                                inclusion=(0, 0), field=(0, 0), rocking=0.0, offcentre=1.5)
    b = faceted.generate(6, cfg, seed=2)
    for inten, p in zip(b.intensity, b.params, strict=True):
        dy, dx = p[faceted.PARAMETERS.index("dy")], p[faceted.PARAMETERS.index("dx")]
        # an unstrained crystal's pattern is centrosymmetric about the shifted origin
        win = inten[24:41, 24:41]
        c = np.arange(24, 41) - 32
        cy = (win.sum(1) * c).sum() / win.sum()
        cx = (win.sum(0) * c).sum() / win.sum()
        assert abs(cy - dy) < 0.3 and abs(cx - dx) < 0.3


def test_counts_and_gaps_as_measured():
    cfg = faceted.FacetedConfig(photons=(1e4, 1e4), gap_fraction=1.0)
    b = faceted.generate(4, cfg, seed=3)
    for inten in b.intensity:
        counts = inten / inten[inten > 0].min()        # back to whole photon counts
        assert np.allclose(counts, np.round(counts), atol=1e-2)
        assert 0.9e4 < counts.sum() < 1.1e4
        rows = ~inten.any(axis=1)
        cols = ~inten.any(axis=0)
        band = rows[26:38].any() or cols[26:38].any()
        assert (rows.any() or cols.any()) and not band   # a gap, never through the peak


def test_same_seed_same_crystals_and_dataset_resumes(tmp_path):
    cfg = faceted.FacetedConfig(size=32)
    a, b = faceted.generate(3, cfg, seed=7), faceted.generate(3, cfg, seed=7)
    assert np.array_equal(a.intensity, b.intensity) and np.array_equal(a.phase, b.phase)
    path = se.make_dataset(tmp_path / "f.h5", 6, seed=4, config=cfg, chunk=3)
    with h5py.File(path) as f:
        assert json.loads(f.attrs["parameters"]) == list(faceted.PARAMETERS)
        assert f["intensity"].shape == (6, 32, 32) and f["params"].shape == (6, 16)
        first = f["intensity"][:3]
    assert np.array_equal(first, faceted.generate(3, cfg, seed=[4, 0]).intensity)
    data = se.read_dataset(path)
    assert data["config"]["kind"] == "faceted"


@pytest.mark.parametrize("bad, word", [(dict(size=30), "size"),
                                       (dict(photons=(10, 1)), "photons"),
                                       (dict(truncation=(0, 1)), "truncation"),
                                       (dict(gap_fraction=2), "gap_fraction")])
def test_bad_ranges_are_refused_by_name(bad, word):
    with pytest.raises(ValueError, match=word):
        faceted.FacetedConfig(**bad)


# -- faceted_crystal_3d: the whole 3D crystal ------------------------------------------
def test_crystal_3d_is_a_centred_complex64_cube_of_peak_amplitude_one():
    c = faceted.faceted_crystal_3d(32, extent=0.4, seed=0)
    assert c.obj.shape == c.support.shape == c.phase.shape == (32, 32, 32)
    assert c.obj.dtype == np.complex64 and c.support.dtype == bool
    assert c.phase.dtype == np.float32
    amp = np.abs(c.obj)
    assert abs(float(amp.max()) - 1) < 1e-6
    assert np.allclose(c.obj, amp * np.exp(1j * c.phase), atol=1e-5)
    # centred on the voxel shape // 2: the polyhedron's centroid is within a voxel of it
    assert np.abs(np.argwhere(c.support).mean(axis=0) - 16).max() < 1.0


@pytest.mark.parametrize("shape, extent", [(32, 0.4), (64, 0.3), (48, 0.5)])
def test_crystal_3d_is_convex_and_its_corner_lies_at_the_requested_extent(shape, extent):
    from scipy.spatial import ConvexHull

    for seed in range(3):
        c = faceted.faceted_crystal_3d(shape, extent=extent, seed=seed)
        assert c.corner_radius == extent * shape / 2
        pts = np.argwhere(c.support) - shape // 2
        r = np.linalg.norm(pts, axis=1).max()
        # the corner, estimated over 2000 directions, within a voxel of corner_radius
        assert c.corner_radius - 1.0 <= r <= 1.03 * c.corner_radius + 0.5
        # a convex polyhedron fills its hull (voxel count over the hull of voxel centres)
        assert c.support.sum() / ConvexHull(pts).volume > 0.95
        # the rounding leaves nothing beyond the corner plus three blur widths and a voxel
        far = np.linalg.norm(np.indices(c.obj.shape) - shape // 2, axis=0)
        edge = c.corner_radius + faceted.TAIL_SIGMAS * c.params["sigma"] + 1
        assert not np.abs(c.obj)[far > edge + 0.5].any()


def test_crystal_3d_pattern_is_oversampled_twice_at_extent_0_4_in_64_cubed():
    from cdi_plugins.simulate import oversampling_ratio

    for seed in range(4):
        assert min(oversampling_ratio(faceted.faceted_crystal_3d(64, 0.4, seed=seed).obj)) >= 2


def test_crystal_3d_is_the_crystal_generate_projects():
    # same seed, same draws: generate's frame (no rocking offset, no shift, no noise) is
    # the 3D crystal summed along its last axis, up to the global phase, the twin and the
    # 3D crystal's cut tail (under 1 % of the peak); another seed's is another crystal
    cfg = faceted.FacetedConfig(size=32, radius=0.25, rocking=0.0, offcentre=0.0,
                                **QUIET)
    b = faceted.generate(1, cfg, seed=5)

    def misfit(seed):
        c = faceted.faceted_crystal_3d(16, extent=0.5, seed=seed, config=cfg)
        proj = np.abs(c.obj.sum(axis=2))
        proj /= proj.max()
        twin = np.roll(proj[::-1, ::-1], (1, 1), axis=(0, 1))
        return min(np.abs(proj - b.amplitude[0]).max(), np.abs(twin - b.amplitude[0]).max())

    assert misfit(5) < 0.01 and misfit(6) > 0.1


def test_crystal_3d_same_seed_same_crystal_other_seed_another():
    a = faceted.faceted_crystal_3d(32, seed=11)
    b = faceted.faceted_crystal_3d(32, seed=11)
    c = faceted.faceted_crystal_3d(32, seed=12)
    assert np.array_equal(a.obj, b.obj) and np.array_equal(a.support, b.support)
    assert a.params == b.params
    assert not np.array_equal(a.support, c.support)
    assert not np.allclose(a.phase, c.phase)


@pytest.mark.parametrize("bad, word", [(dict(shape=31), "shape"), (dict(shape=6), "shape"),
                                       (dict(shape=32.0), "shape"), (dict(shape=True), "shape"),
                                       (dict(extent=0.6), "extent"), (dict(extent=0), "extent"),
                                       (dict(shape=8, extent=0.25), "extent"),
                                       (dict(seed=-1), "seed")])
def test_crystal_3d_bad_arguments_are_refused_by_name(bad, word):
    with pytest.raises(ValueError, match=word):
        faceted.faceted_crystal_3d(**bad)


def test_crystal_3d_refuses_a_config_of_another_kind():
    with pytest.raises(TypeError, match="config"):
        faceted.faceted_crystal_3d(16, config={"truncation": (1, 1.2)})
