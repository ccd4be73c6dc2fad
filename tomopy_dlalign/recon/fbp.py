"""Filtered back-projection for parallel-beam data, with TomoPy's argument names."""

from __future__ import annotations

import numpy as np
import torch

from ..common.parallel import workers
from .center import resolve_center
from .projectors import Projector, SparseMatrixProjector, check_tomo, projector_for

FILTERS = ("none", "ramlak", "ramp", "shepp", "cosine", "hann", "hamming")
#: filtered projections back-projected together on the CPU, in bytes (the weights are
#: computed once per batch)
BATCH_BYTES = 256 << 20
#: projection angles filtered together by one thread
ANGLES_PER_PIECE = 8


def ramp_filter(n: int, filter_name: str = "shepp") -> np.ndarray:
    """Frequency response of the FBP filter for a zero-padded length ``n``.

    The ramp is built from the band-limited spatial kernel of Kak & Slaney (eq. 61 of
    ch. 3), which avoids the DC offset of a sampled ``|f|``; the window multiplies it.
    """
    name = filter_name.lower()
    if name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    f = np.fft.fftfreq(n)
    if name == "none":
        return np.ones(n)
    k = np.fft.ifftshift(np.arange(n) - n // 2)
    h = np.zeros(n)
    h[0] = 0.25
    odd = k % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    ramp = np.real(np.fft.fft(h))  # equals |f| in cycles per pixel, with no DC offset
    window = {
        "ramlak": np.ones(n),
        "ramp": np.ones(n),
        "shepp": np.sinc(f),
        "cosine": np.cos(np.pi * f),
        "hann": 0.5 * (1 + np.cos(2 * np.pi * f)),
        "hamming": 0.54 + 0.46 * np.cos(2 * np.pi * f),
    }[name]
    return ramp * window


def fbp(
    tomo,
    theta,
    center: float | str | None = "auto",
    filter_name: str = "shepp",
    device: str = "auto",
    backend: str = "auto",
    projector: Projector | None = None,
) -> np.ndarray:
    """Filtered back-projection for parallel-beam data.

    Parameters
    ----------
    tomo : ndarray, shape (nproj, nslice, ncol)
        Line integrals.
    theta : ndarray, shape (nproj,)
        Angles in radians, spread evenly over 180 (or 360) degrees.
    center : float, "auto" or None
        Rotation axis in pixels: ``"auto"`` (default) finds it
        (:func:`~tomopy_dlalign.recon.find_center`), ``None`` means ``ncol / 2``
        (TomoPy's default). Ignored when ``projector`` is given.
    filter_name : str
        ``"shepp"`` (default, as TomoPy's gridrec), ``"ramlak"``/``"ramp"``, ``"cosine"``,
        ``"hann"``, ``"hamming"`` or ``"none"``.
    device, backend, projector
        As for :func:`mlem`; on a GPU with ASTRA the back-projection is ASTRA's CUDA one.

    Returns
    -------
    ndarray, shape (nslice, ncol, ncol), float32

    Notes
    -----
    Each projection row is padded with its edge values to the next power of two at
    least twice ``ncol`` (which limits cupping from truncated objects), filtered in
    Fourier space, back-projected with the projector's adjoint and scaled by
    ``pi / nproj``: :math:`f = \\frac{\\pi}{N} \\sum_i (p_{\\theta_i} * h)(x \\cdot \\theta_i)`.
    On the CPU the back-projection is the transpose of the ``cpu`` projector's matrix
    (ASTRA's ``linear`` weights). Unless MLEM or a reprojection has put that matrix in
    memory already, its rows are computed block by block of pixel rows as they are
    needed and dropped after use (:class:`~.system_matrix.PixelWeights`): a first call
    costs what a later one does and the memory stays bounded at any size. Blocks of
    angles (the filter) and of pixel rows (the back-projection) are shared between the
    ``common.parallel.workers`` threads, all slices at once up to ``BATCH_BYTES`` of projections.

    Example
    -------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 90, endpoint=False)
    >>> fbp(np.zeros((90, 1, 32), np.float32), theta).shape
    (1, 32, 32)
    """
    arr, th = check_tomo(tomo, theta)
    if projector is None:
        center = resolve_center(center, arr, th)
    nproj, nslice, ncol = arr.shape
    A = projector_for(th, ncol, center, backend, device, projector)
    n = 1 << int(np.ceil(np.log2(2 * ncol)))
    # the scale pi / nproj rides on the filter: one pass less over the volume
    filt = torch.from_numpy((ramp_filter(n, filter_name)[: n // 2 + 1] * (np.pi / nproj))
                            .astype(np.float32)).to(A.device)
    p = torch.from_numpy(np.ascontiguousarray(arr)).to(A.device)
    if isinstance(A, SparseMatrixProjector) and A.device.type == "cpu":
        with workers.cpu_threads():
            return _fbp_by_blocks(A, p, filt, n).numpy()
    # a GPU, or a projector of its own that batches itself: all slices at once
    return A.adjoint(_filtered(p, filt, n)).cpu().numpy()


def _fbp_by_blocks(A: SparseMatrixProjector, p: torch.Tensor, filt: torch.Tensor,
                   n: int) -> torch.Tensor:
    """Filter blocks of angles, then back-project blocks of pixel rows, each block a
    piece for the ``common.parallel.workers`` threads; up to ``BATCH_BYTES`` of filtered projections
    (all slices of the benchmarks' cases) at a time."""
    nproj, nslice, ncol = p.shape
    out = torch.empty((nslice, ncol, ncol), dtype=torch.float32)
    flat = out.view(nslice, ncol * ncol)
    batch = max(1, min(nslice, BATCH_BYTES // (4 * nproj * ncol)))
    angles = [slice(a, a + ANGLES_PER_PIECE) for a in range(0, nproj, ANGLES_PER_PIECE)]
    for s0 in range(0, nslice, batch):
        part = slice(s0, min(s0 + batch, nslice))
        work = torch.empty((nproj, ncol, part.stop - s0), dtype=torch.float32)

        def filter_angles(a: slice, part: slice = part, work: torch.Tensor = work) -> None:
            work[a] = _filtered(p[a, part], filt, n).permute(0, 2, 1)

        workers.map_pieces(filter_angles, angles)
        y = work.reshape(nproj * ncol, -1)            # the projector's working layout

        def project_rows(rows: slice, y: torch.Tensor = y, part: slice = part) -> None:
            # transposed while the block is in the cache: no pass over the whole volume
            flat[part, rows.start * ncol:rows.stop * ncol] = A.adjoint_rows(y, rows).T

        workers.map_pieces(project_rows, A.row_blocks())
    return out


def _filtered(p: torch.Tensor, filt: torch.Tensor, n: int) -> torch.Tensor:
    """Rows of ``p`` (nproj, b, ncol) edge-padded to ``n``, filtered by ``filt`` (the
    half spectrum), cropped back: a view, the back-projection copies it once."""
    nproj, b, ncol = p.shape
    left = (n - ncol) // 2
    padded = torch.nn.functional.pad(p.reshape(-1, 1, ncol), (left, n - ncol - left),
                                     mode="replicate").reshape(nproj, b, n)
    spec = torch.fft.rfft(padded, dim=-1)
    spec *= filt
    return torch.fft.irfft(spec, n=n, dim=-1)[..., left:left + ncol]
