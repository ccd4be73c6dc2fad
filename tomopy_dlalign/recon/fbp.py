"""Filtered back-projection for parallel-beam data, with TomoPy's argument names."""

from __future__ import annotations

import numpy as np
import torch

from .center import resolve_center
from .projectors import Projector, check_tomo, projector_for

FILTERS = ("none", "ramlak", "ramp", "shepp", "cosine", "hann", "hamming")


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
    filt = torch.from_numpy(ramp_filter(n, filter_name)[: n // 2 + 1].astype(np.float32))
    p = torch.from_numpy(np.ascontiguousarray(arr)).to(A.device)
    left = (n - ncol) // 2
    padded = torch.nn.functional.pad(p.reshape(-1, 1, ncol), (left, n - ncol - left),
                                     mode="replicate").reshape(nproj, nslice, n)
    spec = torch.fft.rfft(padded, dim=-1) * filt.to(A.device)
    filtered = torch.fft.irfft(spec, n=n, dim=-1)[..., left:left + ncol].contiguous()
    rec = A.adjoint(filtered) * (np.pi / nproj)
    return rec.cpu().numpy()

