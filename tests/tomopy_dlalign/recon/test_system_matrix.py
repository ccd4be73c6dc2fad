"""The cpu projector's system matrix, computed in NumPy, against ASTRA's own."""

import numpy as np
import pytest
import scipy.sparse as sp

from tomopy_dlalign.recon import system_matrix as sm
from tomopy_dlalign.recon.projectors import make_projector

N = 64
THETA = np.linspace(0, np.pi, 90, endpoint=False)


def astra_linear_matrix(theta, ncol, center):
    """ASTRA's 2D CPU ``linear`` projector as a matrix, in the projector's geometry."""
    astra = pytest.importorskip("astra")
    s, c = np.sin(theta), np.cos(theta)
    d = ncol / 2.0 - center  # the detector's middle moves by -offset along u
    vectors = np.stack([s, -c, d * c, d * s, c, s], axis=1)
    vol_geom = astra.create_vol_geom(ncol, ncol)
    proj_geom = astra.create_proj_geom("parallel_vec", ncol, vectors)
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    try:
        mid = astra.projector.matrix(pid)
        try:
            return astra.matrix.get(mid).astype(np.float32).tocsr()
        finally:
            astra.matrix.delete(mid)
    finally:
        astra.projector.delete(pid)


@pytest.mark.parametrize("center", [32.0, 29.3, 36.5])
@pytest.mark.parametrize("theta", [THETA, np.linspace(0.1, 2 * np.pi + 0.1, 37)],
                         ids=["half-turn", "full-turn"])
def test_matrix_equals_astras_linear_projector_to_its_float32_rounding(theta, center):
    ours = sm.system_matrix(theta, N, center)
    ref = astra_linear_matrix(theta, N, center)
    diff = ours - ref
    # ASTRA accumulates the crossing position in float32 row after row (measured 1e-4)
    assert sp.linalg.norm(diff) / sp.linalg.norm(ref) < 1e-3
    assert abs(diff).max() < 3e-3
    x = np.random.default_rng(0).random(N * N).astype(np.float32)
    assert np.linalg.norm(ours @ x - ref @ x) / np.linalg.norm(ref @ x) < 1e-4


def test_back_projection_matrix_is_the_exact_transpose():
    at = sm.back_projection_matrix(THETA, N, 30.7)
    a = sm.system_matrix(THETA, N, 30.7)
    assert (a.T != at).nnz == 0


@pytest.mark.parametrize("center", [None, 30.7])
def test_adjoint_identity_holds_to_float32_rounding(center, rng):
    A = make_projector(THETA, N, center, backend="cpu")
    x = rng.random((4, N, N)).astype(np.float32)
    y = rng.random((THETA.size, 4, N)).astype(np.float32)
    lhs = np.vdot(A.forward(x).astype(np.float64), y)
    rhs = np.vdot(x.astype(np.float64), A.adjoint(y).astype(np.float64))
    assert abs(lhs - rhs) / abs(lhs) < 1e-6


def test_a_central_ray_weighs_its_path_through_the_image():
    # the ray through the axis crosses all N rows (or columns) with length 1 / m each,
    # less up to one such length where it leaves through a corner (at 45 degrees)
    theta = np.array([0.0, 0.3, np.pi / 4, 1.2, np.pi / 2])
    a = sm.system_matrix(theta, N, N / 2).toarray().reshape(theta.size, N, N * N)
    # detector column N/2 - 1/2 is not a ray: the two nearest rays share the axis
    m = np.maximum(np.abs(np.cos(theta)), np.abs(np.sin(theta)))
    total = a[:, N // 2].sum(axis=1) + a[:, N // 2 - 1].sum(axis=1)
    assert np.all(np.abs(total / 2 - N / m) <= 1 / m + 1e-3)
    np.testing.assert_allclose((total / 2)[[0, 1, 3, 4]], (N / m)[[0, 1, 3, 4]], rtol=1e-5)


def test_each_pixel_meets_at_most_two_rays_per_angle():
    at = sm.back_projection_matrix(THETA, N, 33.2)
    per_pixel = np.diff(at.indptr)
    assert per_pixel.max() <= 2 * THETA.size
    assert at.data.min() > 0 and at.data.max() <= 1 / np.sqrt(0.5) + 1e-6
    # a pixel near the axis is seen at every angle
    rays = at[N * (N // 2) + N // 2].toarray().reshape(THETA.size, N).sum(axis=1)
    assert rays.min() > 0.5


def test_blocks_do_not_change_the_matrix(monkeypatch):
    whole = sm.back_projection_matrix(THETA, 20, 9.5)
    monkeypatch.setattr(sm, "BLOCK", 1)  # one pixel row per block
    rows = sm.back_projection_matrix(THETA, 20, 9.5)
    assert (whole != rows).nnz == 0


@pytest.mark.parametrize("theta", [THETA, np.linspace(0.1, 2 * np.pi + 0.1, 37)],
                         ids=["half-turn", "full-turn"])
def test_blocks_of_pixel_rows_hold_the_matrix_rows_with_zeros_added(theta):
    weights = sm.PixelWeights(theta, 20, 9.5)
    full = sm.back_projection_matrix(theta, 20, 9.5).toarray()
    for rows in weights.blocks():
        indices, data = weights.block(rows)
        assert indices.shape == data.shape == ((rows.stop - rows.start) * 20, 2 * theta.size)
        assert indices.min() >= 0 and indices.max() < theta.size * 20  # all valid
        dense = np.zeros((indices.shape[0], theta.size * 20), np.float32)
        np.add.at(dense, (np.arange(indices.shape[0])[:, None], indices), data)
        np.testing.assert_array_equal(dense, full[rows.start * 20:rows.stop * 20])


def test_mirrored_angles_are_those_of_pi_minus_theta():
    theta = np.array([0.0, 0.3, np.pi / 2, np.pi - 0.3, 2.0, np.pi - 2.0 + 1e-12, 1.0])
    computed, mirrored = sm._mirror_order(theta)
    assert sorted(np.concatenate([computed, mirrored])) == list(range(theta.size))
    pairs = set(zip(computed[:mirrored.size].tolist(), mirrored.tolist(), strict=True))
    assert pairs == {(1, 3), (4, 5)}
