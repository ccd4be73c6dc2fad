"""The sparse system matrix of the ``cpu`` projector, computed directly with NumPy.

The weights are those of ASTRA's 2D ``linear`` projector (Joseph's method): a ray that
crosses the image mostly along rows (``|sin theta| < |cos theta|``) meets the centre line
of every pixel row once and shares the length ``1 / |cos theta|`` it travels in that row
between the two pixels beside the crossing, by linear interpolation; mostly horizontal
rays do the same along columns. Written per pixel, this is

.. math:: A_{(\\theta, i), p} = \\frac{1}{m} \\max\\Big(0, 1 - \\frac{|i - t|}{m}\\Big),
   \\qquad m = \\max(|\\cos\\theta|, |\\sin\\theta|),

with :math:`t = x_p \\cos\\theta + y_p \\sin\\theta + c - 1/2` the detector position
(in columns) of the centre of pixel :math:`p` for a rotation axis at column :math:`c`;
ray :math:`i` runs through :math:`t = i` (the geometry of :mod:`.projectors`). Since
:math:`m \\le 1`, at most two rays of an angle reach a pixel: the pixel-major matrix
:math:`A^T` (the back-projection) is computed for all angles at once, in blocks of pixel
rows small enough for the CPU cache (:class:`PixelWeights`), and is already in
compressed-row order; the ray-major :math:`A` is its transpose (a linear-time counting
sort). A block can also be used as it is computed and then dropped, which is how
:func:`~.fbp.fbp` back-projects without keeping a matrix. The whole build takes about
0.2-0.4 s for 181 angles x 256 columns on a busy two-core machine, which is why no copy
is kept on disk.

:math:`t` is computed in float64 and the weights stored in float32; ASTRA (2.5) itself
accumulates the crossing position in float32 from row to row, so its weights differ from
these by up to about ``3e-3`` at 256 columns (``tests`` compare the two).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csr_matrix

from ..common.parallel import workers

#: (pixel, angle) pairs computed per block: its temporaries stay in the CPU cache
BLOCK = 1 << 16


class PixelWeights:
    """The weights of :math:`A^T` for one geometry, computed block by block of pixel rows.

    Every pixel gets two candidate rays per angle (the first candidates of all angles,
    then the second ones): ``2 * nproj`` entries, those of rays past the detector or the
    kernel with weight 0 (and a valid index), so that a block serves as equal-sized bags
    of ``embedding_bag`` as it is.

    An angle whose mirror :math:`\\pi - \\theta` is computed is copied from it: the
    pixel :math:`(r, c)` sees at :math:`\\pi - \\theta` the rays that the pixel
    :math:`(r, n - 1 - c)` sees at :math:`\\theta` (the column's :math:`x` changes
    sign with :math:`\\cos\\theta`), which halves the work for scans over 180 degrees.
    ``theta`` (radians) and ``center`` (pixels) are taken as already checked.
    """

    def __init__(self, theta: np.ndarray, ncol: int, center: float):
        th = np.asarray(theta, dtype=np.float64)
        self.ncol, self.nproj = int(ncol), th.size
        computed, mirrored = _mirror_order(th)
        th = th[computed]
        cos, sin = np.cos(th), np.sin(th)
        m = np.maximum(np.abs(cos), np.abs(sin))
        coord = np.arange(ncol) + 0.5 - ncol / 2.0     # x of column k, and -y of row k
        # t - m, split into a row part and a column part, per computed angle
        self._row_part = -coord[:, None] * sin + (center - 0.5) - m
        self._col_part = coord[:, None] * cos
        self.index_dtype = _index_dtype(2 * ncol * ncol * self.nproj)
        self._consts = (m.astype(np.float32), (1.0 / (m * m)).astype(np.float32),
                        (computed * ncol).astype(self.index_dtype),
                        ((mirrored - computed[:mirrored.size]) * ncol).astype(self.index_dtype))
        #: pixel rows per block: the block's temporaries stay in the CPU cache
        self.rows_per_block = max(1, BLOCK // (ncol * self.nproj))

    def fill(self, rows: slice, indices: np.ndarray, data: np.ndarray) -> None:
        """Write the entries of the pixel rows ``rows`` into ``indices`` and ``data``,
        arrays ``(pixels, 2, nproj)``."""
        _pixel_block(self._row_part[rows], self._col_part, self._consts, indices, data)

    def block(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, data)`` of the pixel rows ``rows``, shaped ``(pixels, 2 * nproj)``."""
        shape = ((rows.stop - rows.start) * self.ncol, 2, self.nproj)
        indices, data = _empty(shape, self.index_dtype), _empty(shape, np.float32)
        self.fill(rows, indices, data)
        return indices.reshape(shape[0], -1), data.reshape(shape[0], -1)

    def blocks(self) -> list[slice]:
        """The image's pixel rows, in blocks of :attr:`rows_per_block`."""
        step = self.rows_per_block
        return [slice(r, min(r + step, self.ncol)) for r in range(0, self.ncol, step)]

    def matrix(self) -> csr_matrix:
        """:math:`A^T` as a SciPy CSR matrix (rows: pixels; columns: rays ``(angle,
        detector column)``), its blocks computed on the ``common.parallel.workers`` threads (NumPy
        releases the GIL), the zero weights then removed."""
        ncol, nproj = self.ncol, self.nproj
        npix = ncol * ncol
        indices = _empty((npix, 2, nproj), self.index_dtype)
        data = _empty((npix, 2, nproj), np.float32)

        def fill(rows: slice) -> None:
            pixels = slice(rows.start * ncol, rows.stop * ncol)
            self.fill(rows, indices[pixels], data[pixels])

        workers.map_pieces(fill, self.blocks())
        indptr = np.arange(0, 2 * nproj * (npix + 1), 2 * nproj, dtype=self.index_dtype)
        mat = csr_matrix((npix, nproj * ncol), dtype=np.float32)
        mat.data, mat.indices, mat.indptr = data.ravel(), indices.ravel(), indptr
        mat.eliminate_zeros()  # one pass, in place
        return mat


def back_projection_matrix(theta: np.ndarray, ncol: int, center: float) -> csr_matrix:
    """:math:`A^T` as a SciPy CSR matrix: rows are the pixels ``(row, column)`` of one
    slice, columns the rays ``(angle, detector column)`` (:class:`PixelWeights`)."""
    return PixelWeights(theta, ncol, center).matrix()


def _mirror_order(theta: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """``(computed, mirrored)`` angle indices: ``mirrored[j]`` is ``pi - theta`` of
    ``computed[j]`` (to ``tol`` radians, modulo a turn); the angles computed without a
    mirror come after those with one."""
    n = theta.size
    wrapped = np.mod(theta, 2 * np.pi)
    by_angle = np.argsort(wrapped, kind="stable")
    target = np.mod(np.pi - theta, 2 * np.pi)
    near = np.searchsorted(wrapped[by_angle], target)
    partner = np.full(n, -1)
    for step in (0, -1):
        cand = by_angle[(near + step) % n]
        gap = np.abs(np.mod(wrapped[cand] - target + np.pi, 2 * np.pi) - np.pi)
        partner = np.where((partner < 0) & (gap < tol), cand, partner)
    taken = np.zeros(n, dtype=bool)
    sources, mirrors = [], []
    for a in range(n):
        b = int(partner[a])
        if not taken[a] and b > a and not taken[b]:
            sources.append(a)
            mirrors.append(b)
            taken[a] = taken[b] = True
    rest = np.flatnonzero(~taken)
    return (np.concatenate([np.array(sources, dtype=np.int64), rest]),
            np.array(mirrors, dtype=np.int64))


def _pixel_block(row_part, col_part, consts, indices, data) -> None:
    """Fill ``indices`` and ``data`` (pixels, 2, nproj) for a block of whole pixel rows:
    the computed angles first, then their mirrors."""
    m32, inv_m2, first_ray, mirror_shift = consts
    ncol, nc = col_part.shape
    shape = (row_part.shape[0], ncol, nc)
    u = row_part[:, None, :] + col_part[None, :, :]           # t - m
    low = np.floor(u)
    frac = np.subtract(u, low, out=u).astype(np.float32)
    ray = low.astype(indices.dtype)
    ray += 1                                                  # the first ray past t - m
    w0, w1 = (data[:, k, :nc].reshape(shape) for k in (0, 1))
    # that ray lies at t - ray = frac + m - 1, the next one at frac + m - 2
    np.add(frac, m32 - 1, out=w0)
    np.abs(w0, out=w0)
    np.subtract(m32, w0, out=w0)
    w0 *= inv_m2
    np.add(frac, 2 * m32 - 2, out=w1)
    np.maximum(w1, 0, out=w1)
    w1 *= inv_m2
    # seen as unsigned, a negative ray is huge: one test for both ends of the detector
    unsigned = np.uint32 if ray.dtype == np.int32 else np.uint64
    np.copyto(w0, 0, where=ray.view(unsigned) >= ncol)
    i0, i1 = (indices[:, k, :nc].reshape(shape) for k in (0, 1))
    np.add(ray, 1, out=i1)
    np.copyto(w1, 0, where=i1.view(unsigned) >= ncol)
    # rays past the detector (weight 0 now) point at its edge: every index is valid
    np.clip(ray, 0, ncol - 1, out=ray)
    np.clip(i1, 0, ncol - 1, out=i1)
    np.add(ray, first_ray, out=i0)
    i1 += first_ray
    nm = mirror_shift.size
    if nm:  # the mirrors: the same rays, seen from the pixel mirrored across the axis
        full = (row_part.shape[0], ncol, 2, indices.shape[2])
        w, i = data.reshape(full), indices.reshape(full)
        w[..., nc:] = w[:, ::-1, :, :nm]
        np.add(i[:, ::-1, :, :nm], mirror_shift, out=i[..., nc:])


def _empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array from PyTorch's allocator. NumPy advises the kernel to back
    large arrays with transparent huge pages; where memory is fragmented, the kernel then
    compacts it at the first touch of every huge page: 1.0 s instead of 0.15 s for the
    190 MB of 181 angles x 256 columns, measured on a shared machine."""
    return torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype).numpy()


def _index_dtype(maxval: int):
    return np.int32 if maxval < np.iinfo(np.int32).max else np.int64


def system_matrix(theta, ncol: int, center: float | None = None) -> csr_matrix:
    """The ``cpu`` projector's system matrix :math:`A` as a SciPy CSR matrix.

    Rows are ``(angle, detector column)`` rays, columns the ``(row, column)`` pixels of
    one slice; the entries are the weights of ASTRA's ``linear`` projector in pixel units
    (module docstring), without calling ASTRA.

    Example
    -------
    >>> import numpy as np
    >>> system_matrix(np.linspace(0, np.pi, 4, endpoint=False), 8).shape
    (32, 64)
    """
    from ..common.validation import as_center, as_theta

    at = back_projection_matrix(as_theta(theta), int(ncol), as_center(center, int(ncol)))
    return transpose(at)


def transpose(mat: csr_matrix) -> csr_matrix:
    """The transpose of a CSR matrix, again in CSR (SciPy's linear-time conversion)."""
    return mat.T.tocsr()
