import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import compat, simulate


@pytest.fixture(scope="module")
def stack():
    # An isolated sample inside the field of view, imaged with a 1-pixel optical blur
    # (a TXM projection is band-limited by its zone plate, not pixel-sharp).
    from scipy.ndimage import gaussian_filter

    vol = np.zeros((64, 96, 96), np.float32)
    vol[12:52, 16:80, 16:80] = simulate.shepp_logan(64, 40)
    prj = tda.reproject(vol, np.linspace(0, np.pi, 6, endpoint=False))
    return gaussian_filter(prj, (0, 1.0, 1.0)).astype(np.float32)


def test_integer_shifts_are_exact(stack):
    dx = np.array([3, -2, 0, 5, -7, 1])
    dy = np.array([-1, 4, 2, 0, 3, -6])
    out = tda.shift(stack, dx, dy)
    for i in range(stack.shape[0]):
        ref = np.roll(stack[i], (dy[i], dx[i]), axis=(0, 1))
        h, w = stack.shape[1:]
        rows = slice(max(dy[i], 0), h + min(dy[i], 0))
        cols = slice(max(dx[i], 0), w + min(dx[i], 0))
        assert np.array_equal(out[i][rows, cols], ref[rows, cols])


def test_positive_shift_moves_content_to_larger_indices():
    p = np.zeros((1, 9, 9), np.float32)
    p[0, 4, 4] = 1
    out = tda.shift(p, dx=[2.0], dy=[-3.0], mode="constant")
    assert np.unravel_index(out[0].argmax(), (9, 9)) == (1, 6)


def test_subpixel_shift_then_inverse_returns_interior_within_1e3(stack, rng):
    dx = rng.uniform(-5, 5, stack.shape[0])
    dy = rng.uniform(-5, 5, stack.shape[0])
    back = tda.shift(tda.shift(stack, dx, dy), -dx, -dy)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    err = np.abs(back[inner] - stack[inner]).max() / np.abs(stack).max()
    assert err < 1e-3


def test_subpixel_shift_moves_the_centroid_by_the_shift():
    g = np.arange(64)
    img = np.exp(-((g[:, None] - 30.0) ** 2 + (g[None, :] - 33.0) ** 2) / 18.0)[None]
    out = tda.shift(img.astype(np.float32), 0.37, -1.62)[0]
    cy = (out * g[:, None]).sum() / out.sum()
    cx = (out * g[None, :]).sum() / out.sum()
    assert abs(cx - 33.37) < 1e-3 and abs(cy - 28.38) < 1e-3


def test_add_jitter_is_reproducible_and_in_range(stack):
    a, dx, dy = tda.add_jitter(stack, -4, 4, seed=7)
    b, dx2, dy2 = tda.add_jitter(stack, -4, 4, seed=7)
    assert np.array_equal(a, b) and np.array_equal(dx, dx2) and np.array_equal(dy, dy2)
    assert dx.min() >= -4 and dx.max() < 4
    undone = tda.shift(a, -dx, -dy)
    inner = (slice(None), slice(10, -10), slice(10, -10))
    assert np.abs(undone[inner] - stack[inner]).max() < 1e-3 * np.abs(stack).max()


def test_shift_does_not_modify_its_input(stack):
    before = stack.copy()
    tda.shift(stack, 1.5, 2.5)
    compat.shift_images(stack, np.ones(6), np.ones(6))
    assert np.array_equal(stack, before)


def test_shift_rejects_wrong_number_of_shifts(stack):
    with pytest.raises(ValueError, match="dx must hold one value per projection"):
        tda.shift(stack, np.zeros(3), np.zeros(6))


# TomoPy's senses, as read from tomopy/prep/alignment.py (DESIGN.md section 2).
def test_compat_shift_images_moves_content_by_minus_sx_rows_minus_sy_cols():
    p = np.zeros((1, 11, 11), np.float32)
    p[0, 5, 5] = 1
    out = compat.shift_images(p, sx=[2], sy=[-3])
    assert np.unravel_index(out[0].argmax(), (11, 11)) == (3, 8)


def test_compat_add_jitter_moves_content_by_minus_dx_cols_minus_dy_rows():
    np.random.seed(3)
    g = np.arange(48)
    img = np.exp(-((g[:, None] - 24.0) ** 2 + (g[None, :] - 24.0) ** 2) / 8.0)
    out, dx, dy = compat.add_jitter(np.repeat(img[None], 4, 0).astype(np.float32), -3, 3)
    for i in range(4):
        cy = (out[i] * g[:, None]).sum() / out[i].sum()
        cx = (out[i] * g[None, :]).sum() / out[i].sum()
        assert abs(cx - (24 - dx[i])) < 0.01 and abs(cy - (24 - dy[i])) < 0.01


def test_compat_shift_images_undoes_compat_add_jitter_with_tomopys_mapping():
    # TomoPy users undo add_jitter with shift_images(prj, -dy, -dx): sx is along rows.
    np.random.seed(5)
    g = np.arange(48)
    img = np.exp(-((g[:, None] - 20.0) ** 2 + (g[None, :] - 27.0) ** 2) / 8.0)[None]
    stack = np.repeat(img, 3, 0).astype(np.float32)
    jit, dx, dy = compat.add_jitter(stack, -3, 3)
    back = compat.shift_images(jit, -dy, -dx)
    assert np.abs(back - stack).max() < 1e-3



def test_compat_matches_tomopy_when_importable():
    tp = pytest.importorskip("tomopy")
    g = np.arange(40)
    img = np.exp(-((g[:, None] - 18.0) ** 2 + (g[None, :] - 22.0) ** 2) / 10.0)[None]
    stack = np.repeat(img, 3, 0).astype(np.float32)
    sx, sy = np.array([1.5, -2.0, 0.25]), np.array([-0.5, 3.0, 1.0])
    ours = compat.shift_images(stack, sx, sy)
    theirs = tp.shift_images(stack.copy(), sx, sy)
    assert np.abs(ours - theirs).max() < 0.02


def test_fourier_step_in_batches_matches_one_batch(monkeypatch):
    from tomopy_dlalign.prep import shifts

    rng = np.random.default_rng(5)
    prj = rng.random((7, 20, 24)).astype(np.float32)
    dx, dy = rng.uniform(-3, 3, (2, 7))
    whole = shifts.shift(prj, dx, dy)
    monkeypatch.setattr(shifts, "_CHUNK_ELEMENTS", 1)  # one projection per batch
    np.testing.assert_allclose(shifts.shift(prj, dx, dy), whole, atol=1e-6)
