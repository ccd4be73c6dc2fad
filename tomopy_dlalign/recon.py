"""Reconstruction and reprojection with TomoPy's argument names: MLEM, FBP, reproject."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from .common.progress import progress
from .common.validation import as_array, as_theta
from .projectors import Projector, make_projector

logger = logging.getLogger(__name__)

FILTERS = ("none", "ramlak", "ramp", "shepp", "cosine", "hann", "hamming")


def _check_tomo(tomo, theta, name="tomo"):
    arr = as_array(tomo, name, ndim=3)
    th = as_theta(theta, arr.shape[0])
    return arr, th


def _projector(theta, ncol, center, backend, device, projector) -> Projector:
    if projector is not None:
        if projector.ncol != ncol or projector.nproj != len(theta):
            raise ValueError(
                f"projector was built for {projector.nproj} angles x {projector.ncol} columns, "
                f"the data have {len(theta)} x {ncol}")
        return projector
    return make_projector(theta, ncol, center, backend=backend, device=device)


def mlem(
    tomo,
    theta,
    center: float | None = None,
    num_iter: int = 20,
    init_recon=None,
    device: str = "auto",
    backend: str = "auto",
    projector: Projector | None = None,
    callback: Callable[[int, float], None] | None = None,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Maximum-likelihood expectation maximisation (MLEM) reconstruction.

    Parameters
    ----------
    tomo : ndarray, shape (nproj, nslice, ncol)
        Line integrals (after ``normalize`` and ``minus_log``), as in TomoPy.
    theta : ndarray, shape (nproj,)
        Projection angles in radians.
    center : float, optional
        Rotation axis in pixels along ``ncol``; default ``ncol / 2``.
    num_iter : int
        Number of MLEM iterations (TomoPy defaults to 1; 20 is a useful start here).
    init_recon : ndarray, shape (nslice, ncol, ncol), optional
        Starting volume; pass a previous result to continue where it stopped.
    device, backend : str
        Torch device and projector backend (see :func:`make_projector`).
    projector : Projector, optional
        A prebuilt operator for this geometry (skips building one).
    callback : callable, optional
        Called as ``callback(k, kl)`` after iteration ``k`` with the Kullback-Leibler
        data misfit of the iterate that entered it; MLEM never increases it.
    show_progress : bool, optional
        Progress bar; by default shown when standard error is a terminal.

    Returns
    -------
    ndarray, shape (nslice, ncol, ncol), float32, non-negative.

    Notes
    -----
    The update (Shepp & Vardi 1982; Dempster et al. 1977) is

    .. math:: x^{k+1} = \\frac{x^k}{A^T 1} A^T \\frac{y}{A x^k}

    Negative data (noise in ``-log`` of transmissions above the flat field) are set
    to zero, since MLEM models non-negative counts; where ``A x`` is zero the ratio is
    taken as zero. Pixels that no ray reaches (``A^T 1 = 0``) stay zero. Without
    ``init_recon`` the start is a constant per slice that already matches the total
    measured line-integral mass, which saves the first few iterations.

    Example
    -------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False)
    >>> rec = mlem(np.ones((60, 2, 32), np.float32), theta, num_iter=2)
    >>> rec.shape
    (2, 32, 32)
    """
    y_np, th = _check_tomo(tomo, theta)
    nproj, nslice, ncol = y_np.shape
    if not isinstance(num_iter, (int, np.integer)) or num_iter < 0:
        raise ValueError(f"num_iter must be a non-negative integer, got {num_iter!r}")
    A = _projector(th, ncol, center, backend, device, projector)
    dev = A.device
    neg = int((y_np < 0).sum())
    if neg:
        logger.debug("mlem: %d negative data values (%.2g %%) set to zero", neg,
                    100.0 * neg / y_np.size)
    y = torch.from_numpy(np.ascontiguousarray(y_np)).to(dev).clamp_(min=0)
    sens = A.adjoint(torch.ones((nproj, 1, ncol), device=dev))  # (1, ncol, ncol)
    inside = sens > 1e-6 * sens.max()
    inv_sens = torch.where(inside, 1.0 / sens.clamp(min=1e-12), torch.zeros_like(sens))
    if init_recon is None:
        mass = y.sum(dim=(0, 2))  # per slice
        level = mass / sens.sum()
        x = inside.to(torch.float32) * level[:, None, None]
    else:
        x0 = as_array(init_recon, "init_recon", ndim=3)
        if x0.shape != (nslice, ncol, ncol):
            raise ValueError(f"init_recon must have shape {(nslice, ncol, ncol)}, got {x0.shape}")
        x = torch.from_numpy(np.ascontiguousarray(x0)).to(dev).clamp(min=0)
    tiny = torch.finfo(torch.float32).tiny
    for k in progress(range(num_iter), "mlem", show_progress):
        ax = A.forward(x)
        pos = ax > tiny
        ratio = torch.where(pos, y / ax.clamp(min=tiny), 0.0)
        if callback is not None:
            callback(k, _kl(y, ax, ratio, pos))
        x = x * A.adjoint(ratio) * inv_sens
        if (k + 1) % 10 == 0:
            logger.debug("mlem: iteration %d/%d", k + 1, num_iter)
    return x.cpu().numpy()


def _kl(y, ax, ratio, pos) -> float:
    # KL(y || Ax) = sum y log(y / Ax) - y + Ax, with 0 log 0 = 0
    yl = torch.where((y > 0) & pos, y * torch.log(ratio.clamp(min=1e-30)), torch.zeros_like(y))
    return float((yl - y + ax).sum(dtype=torch.float64))


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
    center: float | None = None,
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
    center : float, optional
        Rotation axis in pixels (default ``ncol / 2``).
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

    Example
    -------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 90, endpoint=False)
    >>> fbp(np.zeros((90, 1, 32), np.float32), theta).shape
    (1, 32, 32)
    """
    arr, th = _check_tomo(tomo, theta)
    nproj, nslice, ncol = arr.shape
    A = _projector(th, ncol, center, backend, device, projector)
    n = 1 << int(np.ceil(np.log2(2 * ncol)))
    filt = torch.from_numpy(ramp_filter(n, filter_name)[: n // 2 + 1].astype(np.float32))
    p = torch.from_numpy(np.ascontiguousarray(arr)).to(A.device)
    left = (n - ncol) // 2
    padded = torch.nn.functional.pad(p.reshape(-1, 1, ncol), (left, n - ncol - left),
                                     mode="replicate").reshape(nproj, nslice, n)
    spec = torch.fft.rfft(padded, dim=-1) * filt.to(A.device)
    filtered = torch.fft.irfft(spec, n=n, dim=-1)[..., left:left + ncol].contiguous()
    rec = A.adjoint(filtered) * (np.pi / nproj)
    return rec.cpu().numpy()


def reproject(rec, theta, center: float | None = None, device: str = "auto",
              backend: str = "auto", projector: Projector | None = None) -> np.ndarray:
    """Forward-project a reconstruction to projections ``(nproj, nslice, ncol)``.

    The counterpart of ``tomopy.project`` for a volume from :func:`mlem` or :func:`fbp`
    (``rec`` of shape ``(nslice, ncol, ncol)``), in the same geometry.

    Example
    -------
    >>> import numpy as np
    >>> reproject(np.zeros((1, 16, 16), np.float32), np.linspace(0, np.pi, 8)).shape
    (8, 1, 16)
    """
    vol = as_array(rec, "rec", ndim=3)
    if vol.shape[1] != vol.shape[2]:
        raise ValueError(f"rec must have shape (nslice, ncol, ncol), got {vol.shape}")
    th = as_theta(theta)
    A = _projector(th, vol.shape[2], center, backend, device, projector)
    return A.forward(vol)
