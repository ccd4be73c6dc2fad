"""Synthetic phantoms and scans with known answers, for tests, demos and training.

Every function takes an explicit ``seed`` where it draws random numbers.
"""

from __future__ import annotations

import numpy as np

from .validation import as_theta

# (value, a, b, c, x0, y0, z0, phi in degrees) of the 3D Shepp-Logan head (Kak & Slaney),
# with the contrasts of the "modified" version so that the inner features are visible.
_SHEPP_LOGAN_3D = [
    (1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0),
    (-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0),
    (0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0),
    (0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0),
    (0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0),
]


def _grid(nslice: int, n: int):
    # Pixel centres in the projector's convention (see projectors.py), scaled to [-1, 1].
    c = (np.arange(n) + 0.5 - n / 2) / (n / 2)
    z = (np.arange(nslice) + 0.5 - nslice / 2) / (nslice / 2)
    return z[:, None, None], -c[None, :, None], c[None, None, :]  # z, y (rows), x (cols)


def shepp_logan(size: int = 128, nslice: int | None = None) -> np.ndarray:
    """3D Shepp-Logan phantom ``(nslice, size, size)``, float32, values in [0, 1].

    The head fills about 90 % of the field of view, so it stays inside the circle that
    every projection sees.

    Example
    -------
    >>> shepp_logan(32, 4).shape
    (4, 32, 32)
    """
    if size < 4:
        raise ValueError(f"size must be at least 4, got {size}")
    nslice = size if nslice is None else int(nslice)
    if nslice < 1:
        raise ValueError(f"nslice must be positive, got {nslice}")
    z, y, x = _grid(nslice, size)
    vol = np.zeros((nslice, size, size), np.float32)
    for value, a, b, c, x0, y0, z0, phi in _SHEPP_LOGAN_3D:
        p = np.deg2rad(phi)
        xr = (x - x0) * np.cos(p) + (y - y0) * np.sin(p)
        yr = -(x - x0) * np.sin(p) + (y - y0) * np.cos(p)
        # scale by 0.9 so the whole head sits inside the reconstruction circle
        inside = (xr / (0.9 * a)) ** 2 + (yr / (0.9 * b)) ** 2 + ((z - z0) / c) ** 2 <= 1
        vol += np.float32(value) * inside
    return np.clip(vol, 0, None)


def disk_sinogram(theta, ncol: int, radius: float, x0: float = 0.0, y0: float = 0.0,
                  center: float | None = None, value: float = 1.0) -> np.ndarray:
    """Analytic Radon transform ``(nproj, ncol)`` of a uniform disk (pixel units).

    A disk of radius ``r`` centred at ``(x0, y0)`` projects to
    ``2 * value * sqrt(r^2 - (u - x0 cos t - y0 sin t)^2)`` at detector position ``u``.
    """
    th = as_theta(theta)
    c = ncol / 2 if center is None else center
    u = np.arange(ncol) + 0.5 - c
    s = u[None, :] - (x0 * np.cos(th)[:, None] + y0 * np.sin(th)[:, None])
    return 2 * value * np.sqrt(np.clip(radius**2 - s**2, 0, None))


def ellipse_sinogram(theta, ncol: int, a: float, b: float, phi: float = 0.0, x0: float = 0.0,
                     y0: float = 0.0, center: float | None = None, value: float = 1.0):
    """Analytic Radon transform of a uniform ellipse with semi-axes ``a`` (along x before
    rotation) and ``b``, rotated by ``phi`` radians, centred at ``(x0, y0)``."""
    th = as_theta(theta)
    c = ncol / 2 if center is None else center
    u = np.arange(ncol) + 0.5 - c
    s = u[None, :] - (x0 * np.cos(th)[:, None] + y0 * np.sin(th)[:, None])
    ang = th[:, None] - phi
    r2 = (a * np.cos(ang)) ** 2 + (b * np.sin(ang)) ** 2
    return 2 * value * a * b / r2 * np.sqrt(np.clip(r2 - s**2, 0, None))


def pixelated(func, n: int, oversample: int = 8) -> np.ndarray:
    """Average an indicator ``func(x, y) -> bool`` over ``oversample^2`` points per pixel,
    returning an ``(n, n)`` image in the projectors' coordinates."""
    g = (np.arange(n * oversample) + 0.5) / oversample - n / 2
    xx, yy = np.meshgrid(g, -g)
    return func(xx, yy).reshape(n, oversample, n, oversample).mean((1, 3)).astype(np.float32)


def scan(vol, theta, center: float | None = None, flat_counts: float = 1e4,
         n_flat: int = 5, n_dark: int = 5, dark_counts: float = 100.0, attenuation: float = 0.02,
         seed=None, backend: str = "auto"):
    """Simulate a raw absorption scan of ``vol`` with Poisson counting noise.

    Parameters
    ----------
    vol : ndarray (nslice, ncol, ncol)
        Attenuation per pixel, in units of ``attenuation``.
    theta : ndarray (nproj,), radians
    flat_counts, dark_counts : float
        Mean counts of the open beam above the dark level, and of the dark level.
    attenuation : float
        Linear attenuation of ``vol == 1`` per pixel.
    seed : int or Generator

    Returns
    -------
    (prj, flat, dark) : uint16 arrays as a detector writes them; ``normalize`` and
    ``minus_log`` recover ``attenuation * reproject(vol)`` up to noise.
    """
    from .recon import reproject

    rng = np.random.default_rng(seed)
    line = reproject(vol, theta, center, backend=backend) * attenuation
    shape = line.shape[1:]
    prj = rng.poisson(flat_counts * np.exp(-line) + dark_counts)
    flat = rng.poisson(flat_counts + dark_counts, size=(n_flat, *shape))
    dark = rng.poisson(dark_counts, size=(n_dark, *shape))
    clip = np.iinfo(np.uint16).max
    return tuple(np.clip(a, 0, clip).astype(np.uint16) for a in (prj, flat, dark))
