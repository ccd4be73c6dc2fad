"""What a detector records of a phantom: a raw absorption scan with counting noise, noisy
copies of projections (salt-and-pepper, Gaussian, Poisson), and the artefacts of measured
scans (rings, a drifting beam, dead pixels)."""

from __future__ import annotations

import numpy as np


def scan(vol, theta, center: float | None = None, flat_counts: float = 1e4,
         n_flat: int = 5, n_dark: int = 5, dark_counts: float = 100.0, attenuation: float = 0.02,
         seed=None, backend: str = "auto", jitter=None):
    """Simulate a raw absorption scan of ``vol`` with Poisson counting noise.

    Parameters
    ----------
    vol : ndarray (nslice, ncol, ncol)
        Attenuation per pixel, in units of ``attenuation``.
    theta : ndarray (nproj,), radians
    flat_counts, dark_counts : float
        Mean counts of the open beam above the dark level, and of the dark level.
    attenuation : float
        Linear attenuation of ``vol == 1`` per pixel, 0 or more (a negative one would
        make the sample emit light).
    seed : int or Generator
    jitter : (dx, dy), optional
        Per-projection shifts (``shift``'s sense) of the sample, applied to the
        noise-free line integrals before the counting noise, as a real scan records it.

    Returns
    -------
    (prj, flat, dark) : uint16 arrays as a detector writes them; ``normalize`` and
    ``minus_log`` recover ``attenuation * reproject(vol)`` up to noise.

    Raises
    ------
    ValueError
        A negative or non-finite ``attenuation`` or ``dark_counts``, or ``flat_counts``
        that is not positive.
    """
    from ..recon import reproject

    for name, value, positive in (("attenuation", attenuation, False),
                                  ("flat_counts", flat_counts, True),
                                  ("dark_counts", dark_counts, False)):
        if not np.isfinite(value) or value < 0 or (positive and value == 0):
            which = "positive" if positive else "0 or more"
            raise ValueError(f"{name} must be a finite number, {which}, got {value!r}")
    rng = np.random.default_rng(seed)
    line = reproject(vol, theta, center, backend=backend) * attenuation
    if jitter is not None:
        from ..prep.shifts import shift

        line = np.clip(shift(line, *jitter), 0, None)
    shape = line.shape[1:]
    prj = rng.poisson(flat_counts * np.exp(-line) + dark_counts)
    flat = rng.poisson(flat_counts + dark_counts, size=(n_flat, *shape))
    dark = rng.poisson(dark_counts, size=(n_dark, *shape))
    clip = np.iinfo(np.uint16).max
    return tuple(np.clip(a, 0, clip).astype(np.uint16) for a in (prj, flat, dark))


def add_noise(prj, kind: str = "salt_pepper", level: float = 0.1, seed=None) -> np.ndarray:
    """Noisy copy of projections.

    ``kind="salt_pepper"``: a fraction ``level`` (0-1) of the pixels set to the image's
    minimum or maximum, half each (the paper's robustness test). ``"gaussian"``: additive
    noise of standard deviation ``level`` times the stack's maximum. ``"poisson"``: the
    line integrals are turned into ``1/level`` counts per unattenuated pixel, sampled, and
    turned back.
    """
    rng = np.random.default_rng(seed)
    arr = np.array(prj, dtype=np.float32, copy=True)
    if level < 0:
        raise ValueError(f"level must be non-negative, got {level}")
    if kind == "salt_pepper":
        if level > 1:
            raise ValueError(f"level must be a fraction in [0, 1] for salt_pepper, got {level}")
        lo = arr.min(axis=(1, 2), keepdims=True)
        hi = arr.max(axis=(1, 2), keepdims=True)
        u = rng.random(arr.shape)
        salt, pepper = u < level / 2, (u >= level / 2) & (u < level)
        arr = np.where(salt, hi, np.where(pepper, lo, arr))
    elif kind == "gaussian":
        arr += rng.normal(0, level * float(np.abs(arr).max()), arr.shape).astype(np.float32)
    elif kind == "poisson":
        if level == 0:
            return arr
        counts = rng.poisson(np.exp(-arr) / level)
        arr = -np.log(np.maximum(counts, 1) * level)
    else:
        raise ValueError(f"kind must be 'salt_pepper', 'gaussian' or 'poisson', got {kind!r}")
    return arr.astype(np.float32)


def induce_motion(raw, flat, dark, dx, dy, seed=None):
    """A measured raw scan re-made as if the sample had moved by ``(dx, dy)``.

    Sample motion moves what the sample does to the beam, not the detector: the line
    integrals ``-log((raw - dark) / (flat - dark))`` are shifted (``shift``'s sense, edges
    filled), while the flat, the dark, their banding and every defective detector pixel
    stay where they are. Raw counts are re-made from the shifted transmissions with
    Poisson noise, ``dark + (flat - dark) * exp(-shifted)``; pixels without response
    (``flat <= dark``: dead) keep reading the dark level.

    Parameters
    ----------
    raw : ndarray (nproj, nslice, ncol)
        Measured counts.
    flat, dark : ndarray (n, nslice, ncol) or (nslice, ncol)
        The scan's white and dark fields (several frames are averaged).
    dx, dy : ndarray (nproj,)
        The motion to induce, in pixels.
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, float32, the re-made raw counts (same shape as ``raw``).

    Example
    -------
    >>> import numpy as np
    >>> raw = np.full((2, 4, 8), 500.0); flat = np.full((4, 8), 1000.0); dark = np.zeros((4, 8))
    >>> out = induce_motion(raw, flat, dark, [0, 1], [0, 0], seed=0)
    >>> out.shape, bool(abs(out.mean() - 500) < 30)
    ((2, 4, 8), True)
    """
    from ..common.validation import as_array
    from ..prep.shifts import shift

    arr = as_array(raw, "raw", ndim=3, dtype=np.float64)
    f = np.asarray(flat, np.float64)
    d = np.asarray(dark, np.float64)
    f = f.mean(axis=0) if f.ndim == 3 else f
    d = d.mean(axis=0) if d.ndim == 3 else d
    if f.shape != arr.shape[1:] or d.shape != arr.shape[1:]:
        raise ValueError(f"flat and dark must have the projections' frame shape "
                         f"{arr.shape[1:]}, got {f.shape} and {d.shape}")
    gain = f - d
    live = gain > 0
    trans = np.where(live, (arr - d) / np.where(live, gain, 1.0), 1.0)
    line = -np.log(np.clip(trans, 1e-4, None)).astype(np.float32)
    moved = shift(line, dx, dy)
    mean = d + np.where(live, gain, 0.0) * np.exp(-moved.astype(np.float64))
    rng = np.random.default_rng(seed)
    return rng.poisson(np.clip(mean, 0, None)).astype(np.float32)


def add_artefacts(prj, rings: float = 0.0, drift: float = 0.0, dead: float = 0.0,
                  seed=None) -> np.ndarray:
    """Detector and beam artefacts of measured line integrals, on a copy of ``prj``.

    Parameters
    ----------
    prj : ndarray (nproj, nslice, ncol)
        Line integrals (``-log`` of normalised transmissions).
    rings : float
        Standard deviation of a fixed gain error per detector pixel that the flat field
        did not remove, in line-integral units: the same offset in every projection,
        which reconstructs to rings.
    drift : float
        Amplitude of a slow change of the beam between the flat field and the
        projections: an offset per projection following a random smooth curve over the
        scan (two sinusoids), in line-integral units.
    dead : float
        Fraction of detector pixels that are dead (stuck at the stack's maximum, as a
        zero-count pixel reads after ``minus_log``) in every projection.
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, float32

    Example
    -------
    >>> import numpy as np
    >>> p = add_artefacts(np.zeros((4, 2, 8), np.float32), rings=0.1, seed=0)
    >>> bool(np.allclose(p[0], p[3]))        # a ring offset is the same in every projection
    True
    """
    for name, value in (("rings", rings), ("drift", drift), ("dead", dead)):
        if not value >= 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    if dead > 1:
        raise ValueError(f"dead must be a fraction in [0, 1], got {dead}")
    rng = np.random.default_rng(seed)
    arr = np.array(prj, dtype=np.float32, copy=True)
    n = arr.shape[0]
    if rings:
        arr += rng.normal(0, rings, arr.shape[1:]).astype(np.float32)
    if drift:
        t = np.linspace(0, 1, n)
        phase, freq = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0.5, 2.0, 2)
        curve = np.sin(2 * np.pi * freq[0] * t + phase[0]) + 0.5 * np.sin(
            2 * np.pi * freq[1] * t + phase[1])
        arr += (drift * curve / np.abs(curve).max()).astype(np.float32)[:, None, None]
    if dead:
        stuck = rng.random(arr.shape[1:]) < dead
        arr[:, stuck] = arr.max()
    return arr
