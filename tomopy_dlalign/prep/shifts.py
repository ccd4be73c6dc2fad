"""Sub-pixel image shifts and synthetic jitter, in the project's sense.

``dx`` moves image content along columns (``ncol``), ``dy`` along rows (``nslice``), in
pixels; a positive value moves content toward larger indices, as
``scipy.ndimage.shift``. TomoPy's own senses are mirrored in :mod:`tomopy_dlalign.compat`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..common.device import resolve_device
from ..common.validation import as_array

_MODES = ("edge", "constant")
_PAD = 16  # pixels of edge padding around the Fourier sub-pixel step
_CHUNK_ELEMENTS = 1 << 23  # padded pixels per batch of the Fourier step


def _per_projection(value, name, n):
    arr = as_array(value, name, ndim=(0, 1), dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must hold one value per projection ({n}), got {arr.shape}")
    return arr


def _integer_shift(x: torch.Tensor, ix: np.ndarray, iy: np.ndarray, mode: str) -> torch.Tensor:
    n, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev)[None, :] - torch.from_numpy(iy).to(dev)[:, None]
    cols = torch.arange(w, device=dev)[None, :] - torch.from_numpy(ix).to(dev)[:, None]
    rc, cc = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    idx = torch.arange(n, device=dev)[:, None, None]
    out = x[idx, rc[:, :, None], cc[:, None, :]]
    if mode == "constant":
        valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        out = out * valid
    return out


def _odd_fast_size(n: int) -> int:
    """The smallest odd size >= ``n`` whose factors are 3, 5 and 7 only: odd for the
    reason given in :func:`_fourier_shift`, smooth because an FFT of a size with a large
    prime factor is several times slower (1024 + 33 = 1057 = 7 x 151)."""
    m = n | 1
    while True:
        k = m
        for p in (3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 2


def _fourier_shift(x: torch.Tensor, fx: np.ndarray, fy: np.ndarray, mode: str) -> torch.Tensor:
    # Pad so that the circular shift's wrap-around lands in the padding only, and to odd
    # sizes: an even size has a Nyquist bin, whose shifted phase a real output cannot
    # hold, so a shift and its inverse would not cancel there.
    n, h, w = x.shape
    pad_mode = "replicate" if mode == "edge" else "constant"
    H, W = _odd_fast_size(h + 2 * _PAD), _odd_fast_size(w + 2 * _PAD)
    pads = (_PAD, W - w - _PAD, _PAD, H - h - _PAD)
    ky = torch.fft.fftfreq(H, dtype=torch.float64, device=x.device)
    kx = torch.fft.rfftfreq(W, dtype=torch.float64, device=x.device)
    out = torch.empty_like(x)
    # a few projections at a time bound the memory of the spectra, which for a whole
    # large stack would be several times its size; the phase ramp is separable in y and x
    step = max(1, _CHUNK_ELEMENTS // (H * W))
    for a in range(0, n, step):
        b = min(n, a + step)
        xp = torch.nn.functional.pad(x[a:b, None].float(), pads, mode=pad_mode)[:, 0]
        sy = torch.from_numpy(fy[a:b]).to(x.device)[:, None]
        sx = torch.from_numpy(fx[a:b]).to(x.device)[:, None]
        ramp_y = torch.exp(-2j * np.pi * ky[None] * sy).to(torch.complex64)[:, :, None]
        ramp_x = torch.exp(-2j * np.pi * kx[None] * sx).to(torch.complex64)[:, None, :]
        spec = torch.fft.rfft2(xp)
        spec *= ramp_y
        spec *= ramp_x
        shifted = torch.fft.irfft2(spec, s=(H, W))
        out[a:b] = shifted[:, _PAD:_PAD + h, _PAD:_PAD + w].to(x.dtype)
    return out


def shift(prj, dx, dy, mode: str = "edge", device: str = "auto") -> np.ndarray:
    """Shift each projection by ``(dx[i], dy[i])`` pixels, sub-pixel accurate.

    Parameters
    ----------
    prj : ndarray, shape (nproj, nslice, ncol)
    dx, dy : float or array_like, shape (nproj,)
        Shifts along columns and rows; content moves toward larger indices for
        positive values (``scipy.ndimage.shift`` sense).
    mode : {"edge", "constant"}
        Fill for the content that enters at the borders: the nearest edge value, or 0.
    device : str
        Torch device for the work.

    Returns
    -------
    ndarray, float32, a shifted copy (``prj`` is not modified).

    Notes
    -----
    Each shift is split into an integer part, applied exactly by re-indexing, and a
    fractional part in ``[-0.5, 0.5]``, applied as a Fourier phase ramp on an image
    padded by 16 pixels to odd sizes. Integer shifts are therefore exact; a sub-pixel
    shift followed by its inverse returns band-limited content (any real projection,
    blurred by the optics) to 1e-3 of its maximum. Content that the frame cuts, and
    pixel-sharp edges, ring at the 1e-2 level within about ten pixels of the border,
    as every sinc interpolator does.

    Example
    -------
    >>> import numpy as np
    >>> p = np.zeros((1, 5, 5), np.float32); p[0, 2, 2] = 1
    >>> np.argwhere(shift(p, 1, -2)[0] == 1).tolist()
    [[0, 3]]
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    arr = as_array(prj, "prj", ndim=3)
    n = arr.shape[0]
    sx = _per_projection(dx, "dx", n)
    sy = _per_projection(dy, "dy", n)
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(resolve_device(device))
    return shift_tensor(x, sx, sy, mode).cpu().numpy()


def shift_tensor(x: torch.Tensor, sx: np.ndarray, sy: np.ndarray,
                 mode: str = "edge") -> torch.Tensor:
    """:func:`shift` on a checked stack that stays on its device: ``x`` (nproj, nslice,
    ncol), ``sx``/``sy`` one float per projection. Returns a new tensor."""
    ix, iy = np.round(sx), np.round(sy)
    fx, fy = sx - ix, sy - iy
    frac = (np.abs(fx) > 1e-9) | (np.abs(fy) > 1e-9)
    if frac.any():
        sel = torch.from_numpy(np.flatnonzero(frac)).to(x.device)
        x = x.clone()
        x[sel] = _fourier_shift(x[sel], fx[frac], fy[frac], mode)
    return _integer_shift(x, ix.astype(np.int64), iy.astype(np.int64), mode)


def add_jitter(prj, low: float = -20, high: float = 20, seed=None, mode: str = "edge"):
    """Shift each projection by a random ``(dx, dy)`` drawn uniformly from ``[low, high)``.

    Parameters
    ----------
    prj : ndarray, shape (nproj, nslice, ncol)
    low, high : float
        Bounds of the uniform distribution, in pixels.
    seed : int or numpy.random.Generator, optional
        Source of randomness; the same seed gives the same jitter.
    mode : {"edge", "constant"}
        Border fill, as for :func:`shift`.

    Returns
    -------
    (jittered, dx, dy) : the shifted copy and the shifts applied, in :func:`shift`'s
    sense, so that an aligner that returns the jitter it found can be compared directly.

    Example
    -------
    >>> import numpy as np
    >>> p, dx, dy = add_jitter(np.zeros((3, 8, 8), np.float32), -2, 2, seed=0)
    >>> dx.shape
    (3,)
    """
    arr = as_array(prj, "prj", ndim=3)
    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    rng = np.random.default_rng(seed)
    dx = rng.uniform(low, high, arr.shape[0])
    dy = rng.uniform(low, high, arr.shape[0])
    return shift(arr, dx, dy, mode=mode), dx, dy
