"""Where phasing starts: the starting supports and the starting objects.

:func:`support_from_autocorrelation` gives a loose support from the pattern alone,
:func:`centred_box` the largest object an oversampling of 2 allows, :func:`random_start`
reproducible random phases; :func:`check_support` and :func:`check_init` validate the
supports and starting objects a caller gives :func:`cdi_plugins.phase_retrieval`.
Everything here works on 2D ``(H, W)`` and 3D ``(D, H, W)`` patterns alike.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tomopy_dlalign.common.validation import as_array, check_seed

from ..physics import as_pattern, autocorrelation, inverse_farfield


def support_from_autocorrelation(intensity, mask=None, threshold: float = 0.04,
                                 scale: float = 0.6, blur: float = 0.0) -> np.ndarray:
    """A loose starting support from the pattern's autocorrelation.

    The autocorrelation ``|F^-1(I)|`` of an object spans twice the object (its support is
    the object's support minus itself). The pixels above ``threshold`` times its maximum,
    shrunk about the centre by ``scale`` (0.5 would give the size of a centrosymmetric
    object; 0.6 leaves room to spare), make a centred support that holds the object and
    keeps it from drifting to the corners of the array; shrink-wrap then tightens it.
    Missing pixels take the value of the nearest measured pixel: left at zero, a
    beamstop would remove the smooth low-frequency part of the autocorrelation and
    distort its support.

    Parameters
    ----------
    intensity : array_like or Pattern
        ``(H, W)`` or ``(D, H, W)`` centred intensity (or a validated
        :class:`~cdi_plugins.physics.Pattern`).
    mask : array_like of bool, optional
        True where pixels are missing.
    threshold : float
        Relative threshold in (0, 1).
    scale : float
        Shrink factor of the autocorrelation's support, in (0, 1].
    blur : float
        Width (pixels) of a Gaussian blur of the autocorrelation before the threshold. An
        object with fine or thin features (lines, edges) has an autocorrelation with a
        sharp central peak, above which a threshold relative to the maximum keeps only a
        small core; the blurred autocorrelation follows its envelope instead.

    Returns
    -------
    numpy.ndarray
        bool, the pattern's shape, centred.

    Example
    -------
    >>> import numpy as np
    >>> obj = np.zeros((32, 32)); obj[12:20, 14:18] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(obj)))**2
    >>> s = support_from_autocorrelation(I)
    >>> bool(s[16, 16]), bool(s[0, 0])
    (True, False)
    """
    pat = as_pattern(intensity, mask)
    arr, m = pat.intensity, pat.mask
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if blur < 0:
        raise ValueError(f"blur must be >= 0, got {blur}")
    auto = autocorrelation(arr, m)
    if blur > 0:
        auto = ndimage.gaussian_filter(auto, blur, mode="wrap")
    big = auto > threshold * auto.max()
    # sample the autocorrelation's support at (r - c) / scale: a copy shrunk about c
    source, kept = [], []
    for n in arr.shape:
        idx = np.rint((np.arange(n) - n // 2) / scale).astype(int) + n // 2
        inside = (idx >= 0) & (idx < n)
        source.append(idx[inside])
        kept.append(inside)
    out = np.zeros_like(big)
    out[np.ix_(*kept)] = big[np.ix_(*source)]
    return out


#: the automatic starting supports (:func:`auto_support`): the envelope of the blurred
#: autocorrelation, whole ("envelope", the default), or its sharp core shrunk about the
#: centre ("core", the start ConvRe's features were trained on)
AUTO_SUPPORTS = {
    "envelope": {"threshold": 0.02, "scale": 1.0, "blur": None},
    "core": {"threshold": 0.04, "scale": 0.6, "blur": 0.0},
}


def auto_support(intensity, mask=None, kind: str = "envelope",
                 threshold: float | None = None) -> np.ndarray:
    """The automatic starting support ``kind`` (:data:`AUTO_SUPPORTS`) inside the centred
    half-array box (:func:`centred_box`); the box itself if nothing is left.

    ``"envelope"`` blurs the autocorrelation by ``max(1, size / 128)`` pixels and keeps
    all of it above 2 % of its maximum: on PyNX's measured ESRF-logo pattern (thin lines
    behind a 60-pixel beamstop) it holds 100 % of the object, where the sharp core above
    4 % shrunk by 0.6 ("core") holds 8 % (benchmarks/RESULTS_cdi.md). ``threshold``
    replaces the kind's own.

    Example
    -------
    >>> import numpy as np
    >>> obj = np.zeros((64, 64)); obj[26:38, 28:36] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(obj)))**2
    >>> s = auto_support(I)
    >>> bool(s[32, 32]), bool(s[0, 0])
    (True, False)
    """
    if kind not in AUTO_SUPPORTS:
        raise ValueError(f"support_start must be one of {tuple(AUTO_SUPPORTS)}, got {kind!r}")
    pat = as_pattern(intensity, mask)
    opts = dict(AUTO_SUPPORTS[kind])
    if threshold is not None:
        opts["threshold"] = threshold
    if opts["blur"] is None:
        opts["blur"] = max(1.0, max(pat.shape) / 128)
    box = centred_box(pat.shape)
    sup = support_from_autocorrelation(pat, **opts) & box
    return sup if sup.any() else box


def centred_box(shape: tuple[int, ...], fraction: float = 0.5) -> np.ndarray:
    """Centred rectangle (a box in 3D) covering ``fraction`` of each axis: the largest
    object that is oversampled ``1 / fraction`` times (the fixed "support 2" of Wu et al.
    2021).

    Example
    -------
    >>> int(centred_box((8, 8)).sum()), int(centred_box((8, 8, 8)).sum())
    (16, 64)
    """
    out = np.zeros(shape, dtype=bool)
    box = []
    for n in shape:
        b = max(int(round(n * fraction)), 1)
        box.append(slice(n // 2 - b // 2, n // 2 - b // 2 + b))
    out[tuple(box)] = True
    return out


def random_start(intensity, mask=None, n_runs: int = 1, seed=None,
                 first_run: int = 0) -> np.ndarray:
    """Random starting objects: the measured modulus with uniformly random phases.

    Run ``r`` draws its phases from ``numpy.random.SeedSequence(seed).spawn(...)[r]``,
    so its start does not depend on how many runs share the batch, nor on which batch
    (or which worker) draws it: ``first_run`` draws runs ``first_run, first_run + 1,
    ...``, the same starts as those rows of one call for all runs.

    Parameters
    ----------
    intensity : array_like or Pattern
        ``(H, W)`` or ``(D, H, W)`` centred intensity (or a validated
        :class:`~cdi_plugins.physics.Pattern`).
    mask : array_like of bool, optional
        Missing pixels start with zero amplitude.
    n_runs : int
        Number of starts.
    seed : int, optional
        Seed, 0 or more; ``None`` draws fresh entropy.
    first_run : int
        Index of the first run drawn (a batch of a larger set of runs).

    Returns
    -------
    numpy.ndarray
        complex64 ``(n_runs, *shape)`` centred real-space objects.

    Example
    -------
    >>> import numpy as np
    >>> I = np.ones((16, 16), np.float32)
    >>> a = random_start(I, n_runs=3, seed=1); b = random_start(I, n_runs=1, seed=1)
    >>> a.shape, bool(np.array_equal(a[0], b[0]))
    ((3, 16, 16), True)
    """
    pat = as_pattern(intensity, mask)
    arr, m = pat.intensity, pat.mask
    amp = np.where(m, 0.0, np.sqrt(arr))
    if isinstance(first_run, bool) or int(first_run) != first_run or first_run < 0:
        raise ValueError(f"first_run must be a non-negative integer, got {first_run!r}")
    spawned = np.random.SeedSequence(check_seed(seed)).spawn(int(first_run) + int(n_runs))
    children = spawned[int(first_run):]
    out = np.empty((int(n_runs), *arr.shape), dtype=np.complex64)
    for r, child in enumerate(children):
        phase = np.random.default_rng(child).uniform(-np.pi, np.pi, arr.shape)
        out[r] = inverse_farfield(amp * np.exp(1j * phase), ndim=arr.ndim)
    return out


def check_support(support, shape, n_runs: int, name: str) -> np.ndarray:
    """Validate supports (bool or 0/1) for ``n_runs`` runs of a ``shape`` pattern (2D or
    3D): one of ``shape`` for all or one per run; returns bool ``(n_runs, *shape)``."""
    s = np.asarray(support)
    shape = tuple(shape)
    nd = len(shape)
    if s.ndim not in (nd, nd + 1) or s.shape[-nd:] != shape:
        raise ValueError(f"{name} must have shape {shape} or (n_runs, *{shape}) "
                         f"to match the intensity, got {s.shape}")
    if s.ndim == nd + 1 and s.shape[0] not in (1, n_runs):
        raise ValueError(f"{name} holds {s.shape[0]} supports for {n_runs} runs")
    if s.dtype != bool:
        s = as_array(s, name, dtype=None)
        if not np.isin(s, (0, 1)).all():
            raise ValueError(f"{name} must be boolean or 0/1")
        s = s.astype(bool)
    if not s.reshape(-1, *shape).any(axis=tuple(range(1, nd + 1))).all():
        raise ValueError(f"{name} is empty (no True pixel) for at least one run")
    return np.broadcast_to(s.reshape(-1, *shape), (n_runs, *shape)).copy()


def check_init(init, shape, n_runs: int) -> np.ndarray:
    """Validate starting objects: one of the pattern's ``shape`` (2D or 3D) for all runs
    or one per run; returns complex64 ``(n_runs, *shape)``."""
    shape = tuple(shape)
    a = as_array(init, "init", dtype=np.complex64)
    if a.ndim not in (len(shape), len(shape) + 1) or a.shape[-len(shape):] != shape:
        raise ValueError(f"init must have shape {tuple(shape)} or (n_runs, *{tuple(shape)}), "
                         f"got {a.shape}")
    a = a.reshape(-1, *shape)
    if a.shape[0] not in (1, n_runs):
        raise ValueError(f"init holds {a.shape[0]} objects for n_runs={n_runs}")
    return np.broadcast_to(a, (n_runs, *shape)).copy()
