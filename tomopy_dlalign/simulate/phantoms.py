"""Synthetic phantoms and scans with known answers, for tests, demos and training.

Every function takes an explicit ``seed`` where it draws random numbers.
"""

from __future__ import annotations

import numpy as np

from ..common.validation import as_theta

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




# --- phantom families for training and testing the jitter network -------------------

FAMILIES = ("nanoparticles", "battery", "cells", "assembly", "shepp_logan")


def _ellipsoid(vol, center, radii, value, rot=None, mode="add"):
    """Paint an ellipsoid (voxel units, (z, y, x) order) into ``vol`` within its box."""
    nz, ny, nx = vol.shape
    r = float(max(radii))
    lo = [max(int(np.floor(c - r)) - 1, 0) for c in center]
    hi = [min(int(np.ceil(c + r)) + 2, n) for c, n in zip(center, (nz, ny, nx), strict=True)]
    if any(h <= l for l, h in zip(lo, hi, strict=True)):
        return
    z, y, x = np.meshgrid(*(np.arange(l, h) - c for l, h, c in zip(lo, hi, center, strict=True)),
                          indexing="ij")
    pts = np.stack([z, y, x], -1)
    if rot is not None:
        pts = pts @ rot
    inside = ((pts / np.asarray(radii)) ** 2).sum(-1) <= 1
    box = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    if mode == "add":
        box[inside] += value
    else:
        box[inside] = value


def _rotation(rng):
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a*a+b*b-c*c-d*d, 2*(b*c-a*d), 2*(b*d+a*c)],
                     [2*(b*c+a*d), a*a-b*b+c*c-d*d, 2*(c*d-a*b)],
                     [2*(b*d-a*c), 2*(c*d+a*b), a*a-b*b-c*c+d*d]])


def _random_center(rng, shape, reach):
    # inside the reconstruction cylinder and the vertical field of view
    nz, n = shape[0], shape[1]
    rad = rng.uniform(0, reach) * n / 2
    phi = rng.uniform(0, 2 * np.pi)
    z = rng.uniform(0.5 - reach / 2, 0.5 + reach / 2) * nz
    return (z, n / 2 + rad * np.sin(phi), n / 2 + rad * np.cos(phi))


def _nanoparticles(rng, shape):
    vol = np.zeros(shape, np.float32)
    n = shape[1]
    for _ in range(rng.integers(1, 7)):
        radii = rng.uniform(0.06, 0.18, 3) * n
        _ellipsoid(vol, _random_center(rng, shape, 0.45), radii, rng.uniform(0.7, 1.0),
                   _rotation(rng), mode="set")
    return vol


def _body(rng, shape, lo, hi):
    """Centre and semi-axes of one large body near the axis, within the rows."""
    c = _random_center(rng, shape, 0.1)
    radii = rng.uniform(lo, hi, 3) * shape[1]
    radii[0] = min(radii[0], 0.4 * shape[0])
    return c, radii


def _battery(rng, shape):
    vol = np.zeros(shape, np.float32)
    n = shape[1]
    c, radii = _body(rng, shape, 0.28, 0.38)
    _ellipsoid(vol, c, radii, rng.uniform(0.5, 0.8), _rotation(rng))
    solid = vol > 0
    for _ in range(rng.integers(10, 40)):  # pores
        _ellipsoid(vol, _random_center(rng, shape, 0.5), rng.uniform(0.01, 0.05, 3) * n,
                   0.0, _rotation(rng), mode="set")
    z, y, x = np.meshgrid(*(np.arange(s) - cc for s, cc in zip(shape, c, strict=True)),
                          indexing="ij")
    for _ in range(rng.integers(1, 5)):  # cracks: thin planar slabs through the particle
        normal = rng.standard_normal(3)
        normal /= np.linalg.norm(normal)
        dist = z * normal[0] + y * normal[1] + x * normal[2] - rng.uniform(-0.2, 0.2) * n
        vol[np.abs(dist) < rng.uniform(0.5, 1.5)] = 0.0
    vol *= solid
    return vol


def _cells(rng, shape):
    vol = np.zeros(shape, np.float32)
    n = shape[1]
    c, radii = _body(rng, shape, 0.25, 0.4)
    rot = _rotation(rng)
    _ellipsoid(vol, c, radii, 0.08, rot)
    _ellipsoid(vol, c, np.asarray(radii) - 1.5, -0.03, rot)  # a denser membrane
    for _ in range(rng.integers(3, 12)):  # organelles
        off = rng.uniform(-0.5, 0.5, 3) * np.asarray(radii)
        _ellipsoid(vol, tuple(np.asarray(c) + off), rng.uniform(0.03, 0.1, 3) * n,
                   rng.uniform(0.03, 0.12), _rotation(rng))
    return vol


def _assembly(rng, shape):
    vol = np.zeros(shape, np.float32)
    n = shape[1]
    for _ in range(rng.integers(5, 25)):
        center = _random_center(rng, shape, 0.55)
        size = rng.uniform(0.03, 0.12) * n
        value = rng.uniform(0.2, 1.0)
        kind = rng.integers(3)
        if kind == 0:
            _ellipsoid(vol, center, (size,) * 3, value, mode="set")
        else:
            # boxes and rods: a box is an ellipsoid in the sup-norm; use a rotated grid
            rot = _rotation(rng)
            half = np.array([size, size, size]) * (rng.uniform(0.5, 1.0, 3) if kind == 1
                                                   else np.array([2.5, 0.4, 0.4]))
            r = float(np.linalg.norm(half))
            lo = [max(int(c - r), 0) for c in center]
            hi = [min(int(c + r) + 2, s) for c, s in zip(center, shape, strict=True)]
            if any(h <= l for l, h in zip(lo, hi, strict=True)):
                continue
            g = np.meshgrid(*(np.arange(l, h) - c for l, h, c in zip(lo, hi, center,
                                                                     strict=True)),
                            indexing="ij")
            pts = np.stack(g, -1) @ rot
            inside = (np.abs(pts) <= half).all(-1)
            vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = value
    return vol


def phantom(family: str, size: int = 128, nslice: int | None = None, seed=None) -> np.ndarray:
    """A random 3D phantom ``(nslice, size, size)`` of one family, float32, in [0, ~1].

    Families
    --------
    ``nanoparticles``
        1-6 dense, sharp-edged ellipsoids (gold-like particles), some touching.
    ``battery``
        one large particle with pores and planar cracks (a cathode particle).
    ``cells``
        a weakly absorbing ellipsoidal cell with a membrane and organelles.
    ``assembly``
        a random assembly of spheres, boxes and rods of mixed contrast.
    ``shepp_logan``
        the 3D Shepp-Logan head, for reference.

    Everything stays inside the reconstruction cylinder and the vertical field of view.

    Example
    -------
    >>> phantom("battery", 32, 16, seed=0).shape
    (16, 32, 32)
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    nslice = size if nslice is None else int(nslice)
    if family == "shepp_logan":
        return shepp_logan(size, nslice)
    rng = np.random.default_rng(seed)
    make = {"nanoparticles": _nanoparticles, "battery": _battery, "cells": _cells,
            "assembly": _assembly}[family]
    vol = make(rng, (nslice, size, size))
    np.clip(vol, 0, None, out=vol)
    peak = float(vol.max())
    return vol / peak if peak > 0 else vol


