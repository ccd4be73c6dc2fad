"""From a phased Bragg crystal to its displacement and strain along ``Q``.

The phase of a Bragg CDI object is ``phi(r) = Q . u(r)``, the projection of the
crystal's displacement field on the scattering vector (Robinson & Harder, Nature
Materials 8, 291 (2009)), plus what phasing cannot fix: a constant (the global phase)
and a linear ramp (an offset of the pattern's centre from the exact Bragg peak, which
shifts the object's transform; a homogeneous strain does the same and cannot be told
apart from it). Translation is not fixed either. :func:`postprocess` takes these away,
then reads the displacement ``u = phi / |Q|`` and the strain along ``Q``,
``d u / d q_hat``, when the geometry is given (:class:`~.geometry.BraggGeometry`),
in the detector frame or resampled to the laboratory frame.

Example
-------
>>> from cdi_plugins.simulate import crystal_object_3d
>>> from cdi_plugins.bragg import BraggGeometry, postprocess
>>> g = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1.0,
...                   pixel_size=55e-6, rocking_step=0.005)
>>> r = postprocess(crystal_object_3d(24, seed=0), g)
>>> r.displacement.shape, r.frame, round(float(np.nanmax(np.abs(r.strain))) * 1e4, 1)
((24, 24, 24), 'detector', 0.8)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .geometry import BraggGeometry, check_volume, orthogonalise

logger = logging.getLogger(__name__)

#: default support threshold, a fraction of the largest amplitude
THRESHOLD = 0.25


@dataclass
class PhaseRamp:
    """A linear phase ``offset + gradient . (n - centre)`` over array indices ``n``.

    Attributes
    ----------
    gradient : numpy.ndarray
        rad per voxel along each array axis.
    offset : float
        rad, the phase at ``centre``.
    centre : tuple of int
        The array centre ``N // 2``, where the ramp is 0.
    """

    gradient: np.ndarray
    offset: float
    centre: tuple[int, ...]

    def phase(self, shape) -> np.ndarray:
        """The ramp's phase on an array of ``shape``, rad."""
        grids = np.meshgrid(*[np.arange(n) - c for n, c in zip(shape, self.centre,
                                                               strict=True)],
                            indexing="ij", sparse=True)
        return self.offset + sum(g * x for g, x in zip(self.gradient, grids, strict=True))


@dataclass
class BraggResult:
    """What :func:`postprocess` returns.

    Attributes
    ----------
    object : numpy.ndarray
        complex64, centred, with the ramp and offset removed (in ``frame``).
    support : numpy.ndarray
        bool, where the crystal is.
    phase : numpy.ndarray
        The object's phase unwrapped over the support, rad; NaN outside.
    ramp : PhaseRamp
        What was removed (in the detector frame, before any resampling).
    shift : numpy.ndarray
        Voxels the crystal was moved to centre it (per axis, the ``scipy.ndimage.shift``
        sense).
    displacement, strain : numpy.ndarray or None
        ``u`` along ``Q`` (m) and ``d u / d q_hat`` (dimensionless), NaN outside the
        support; None without a geometry.
    geometry : BraggGeometry or None
    frame : str
        ``"detector"`` (axes: frame, row, column) or ``"lab"`` (axes: x, y, z).
    basis : numpy.ndarray or None
        (3, 3), m: column ``j`` is the laboratory vector of one voxel step along axis
        ``j`` (``v I`` in the laboratory frame).
    parameters : dict
        The choices made (threshold, centring, offset rule, support size).
    """

    object: np.ndarray
    support: np.ndarray
    phase: np.ndarray
    ramp: PhaseRamp
    shift: np.ndarray
    displacement: np.ndarray | None = None
    strain: np.ndarray | None = None
    geometry: BraggGeometry | None = None
    frame: str = "detector"
    basis: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)

    @property
    def amplitude(self) -> np.ndarray:
        """``|object|``."""
        return np.abs(self.object)

    @property
    def voxel_size(self) -> np.ndarray | None:
        """The length of one voxel step along each axis, m (None without a geometry)."""
        return None if self.basis is None else np.linalg.norm(self.basis, axis=0)


def _check_object(obj) -> np.ndarray:
    arr = check_volume(obj, "obj")
    if not np.iscomplexobj(arr):
        arr = arr.astype(np.complex64)
    if not np.isfinite(arr).all():
        raise ValueError("obj holds non-finite values")
    return arr


def support_from_amplitude(obj, support=None, threshold: float = THRESHOLD) -> np.ndarray:
    """The crystal's voxels: ``support`` checked against ``obj``, or where the amplitude
    reaches ``threshold`` of its maximum.

    The threshold draws the crystal's edge: the amplitude falls from the crystal's
    level to 0 over about one voxel, where the phase is least reliable; 0.25 keeps the
    edge voxels of a phased crystal whose amplitude inside varies by a few tens of
    percent and leaves out the noise around it. Give ``support`` (a phasing result's
    ``supports[best]``) to use the one phasing found.
    """
    arr = np.asarray(obj)
    if support is None:
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        amp = np.abs(arr)
        s = amp >= threshold * amp.max() if amp.max() > 0 else np.zeros(arr.shape, bool)
    else:
        s = np.asarray(support)
        if s.shape != arr.shape:
            raise ValueError(f"support must have the object's shape {arr.shape}, "
                             f"got {s.shape}")
        s = s.astype(bool)
    if s.sum() < 8:
        raise ValueError(f"support is empty (or holds fewer than 8 voxels: {int(s.sum())}): "
                         "the object's amplitude is zero, or give a support")
    return s


def centre_object(obj, support, subpixel: bool = False):
    """Move the crystal so that its support's centre of mass is on the array centre
    ``N // 2``.

    ``subpixel=False`` rolls by whole voxels (exact, nothing interpolated);
    ``subpixel=True`` shifts by the exact amount through the Fourier shift theorem,
    which rings about a sharp edge by a few percent of the amplitude (the support moves
    by linear interpolation, kept where it reaches 0.5). Returns
    ``(object, support, shift)``, ``shift`` the voxels moved per axis.
    """
    arr = _check_object(obj)
    s = np.asarray(support, bool)
    com = np.array([(np.nonzero(s)[k]).mean() for k in range(arr.ndim)])
    shift = np.array(arr.shape) // 2 - com
    if not subpixel:
        shift = np.round(shift)
        steps = tuple(int(x) for x in shift)
        return (np.roll(arr, steps, axis=(0, 1, 2)), np.roll(s, steps, axis=(0, 1, 2)),
                shift)
    from scipy import ndimage

    moved = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(arr), shift)).astype(arr.dtype)
    # the support moves by linear interpolation: a Fourier shift would ring at its edge
    s_moved = ndimage.shift(s.astype(np.float32), shift, order=1, mode="grid-wrap")
    return moved, s_moved >= 0.5, shift


def _mean_gradient(obj, weights) -> np.ndarray:
    """The mean phase step per voxel along each axis, from the phasors of neighbours
    (no unwrapping): ``arg sum w o[n + e_j] conj(o[n])`` over pairs inside the support.
    Right for any ramp below pi per voxel."""
    grad = []
    for axis in range(obj.ndim):
        n = obj.shape[axis]
        a = np.take(obj, range(1, n), axis=axis)
        b = np.take(obj, range(n - 1), axis=axis)
        w = np.take(weights, range(1, n), axis=axis) * np.take(weights, range(n - 1),
                                                                  axis=axis)
        grad.append(np.angle((w * a * np.conj(b)).sum()))
    return np.array(grad)


def unwrapped_phase(obj, support) -> np.ndarray:
    """The phase of ``obj`` unwrapped over ``support``
    (:func:`skimage.restoration.unwrap_phase`, 3D, reliability-ordered), NaN outside.
    Disconnected parts of the support are unwrapped independently."""
    from skimage.restoration import unwrap_phase

    masked = np.ma.masked_array(np.angle(obj).astype(np.float64), mask=~support)
    out = unwrap_phase(masked)
    return np.where(support, np.ma.getdata(out), np.nan)


def remove_phase_ramp(obj, support=None, threshold: float = THRESHOLD,
                      offset: str = "mean") -> tuple[np.ndarray, np.ndarray, PhaseRamp]:
    """Fit and remove a linear phase ramp and the phase offset over the support.

    The ramp is first estimated from neighbouring phasors (:func:`_mean_gradient`, no
    unwrapping), removed, and the phase unwrapped over the support; then the
    amplitude-weighted least-squares plane ``c + g . (n - N // 2)`` of the unwrapped
    phase refines it. ``offset="mean"`` removes the amplitude-weighted mean phase over
    the support; ``"com"`` the phase at the support's centre of mass.

    What phasing leaves is only known up to this ramp: a homogeneous strain of the
    crystal is a ramp too and is removed with it (give it back from another measure of
    the lattice parameter).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, PhaseRamp)
        The object times ``exp(-i ramp)``, its unwrapped phase (rad, NaN outside the
        support) and the ramp removed.
    """
    arr = _check_object(obj)
    s = support_from_amplitude(arr, support, threshold)
    if offset not in ("mean", "com"):
        raise ValueError(f"offset must be 'mean' or 'com', got {offset!r}")
    weights = np.abs(arr) * s
    centre = tuple(n // 2 for n in arr.shape)
    coarse = PhaseRamp(_mean_gradient(arr, weights), 0.0, centre)
    phase = unwrapped_phase(arr * np.exp(-1j * coarse.phase(arr.shape)), s)
    idx = np.nonzero(s)
    design = np.column_stack([np.ones(len(idx[0]))]
                             + [i - c for i, c in zip(idx, centre, strict=True)])
    w = np.sqrt(weights[idx])
    coef = np.linalg.lstsq(design * w[:, None], phase[idx] * w, rcond=None)[0]
    gradient = coarse.gradient + coef[1:]
    phase = phase - PhaseRamp(coef[1:], 0.0, centre).phase(arr.shape)
    if offset == "mean":
        c0 = float(np.average(phase[idx], weights=weights[idx]))
    else:
        com = tuple(int(round(i.mean())) for i in idx)
        c0 = float(phase[com]) if s[com] else float(np.average(phase[idx],
                                                               weights=weights[idx]))
    phase = phase - c0
    # the offset is quoted in (-pi, pi]: the unwrapping picked the 2 pi multiple
    ramp = PhaseRamp(gradient, float(np.angle(np.exp(1j * (coef[0] + c0)))), centre)
    cleaned = (np.abs(arr) * np.exp(1j * np.nan_to_num(phase))).astype(
        np.complex64 if arr.dtype != np.complex128 else arr.dtype)
    return cleaned, phase, ramp


def displacement(phase, geometry: BraggGeometry) -> np.ndarray:
    """``u = phi / |Q|``, m: the displacement along ``Q`` from the unwrapped phase (rad)."""
    if not isinstance(geometry, BraggGeometry):
        raise TypeError(f"geometry must be a BraggGeometry, got {type(geometry).__name__}")
    return np.asarray(phase, dtype=float) / geometry.q_norm


def _index_gradient(u, axis: int) -> np.ndarray:
    """``d u / d n`` along ``axis`` where ``u`` is finite: central differences where both
    neighbours are, one-sided where one is, NaN where neither is."""
    pad = [(0, 0)] * u.ndim
    pad[axis] = (1, 1)
    p = np.pad(u, pad, constant_values=np.nan)
    n = u.shape[axis]
    up = np.take(p, range(2, n + 2), axis=axis)
    down = np.take(p, range(n), axis=axis)
    central = (up - down) / 2
    forward = up - u
    backward = u - down
    return np.where(np.isfinite(central), central,
                    np.where(np.isfinite(forward), forward, backward))


def strain(u, basis, q_hat) -> np.ndarray:
    """The strain along ``Q``, ``d u / d q_hat = q_hat . grad u``, dimensionless.

    With ``r = A n`` (``A = basis``, m per voxel step, columns per array axis), the
    gradient in the laboratory frame is ``grad_r u = A^{-T} grad_n u``, the index
    gradients being finite differences (:func:`_index_gradient`: central inside the
    support, one-sided on its edge). In the laboratory frame ``A = v I``; in the
    detector frame the three index gradients all contribute, through the shear.
    NaN where ``u`` is NaN.
    """
    u = np.asarray(u, dtype=float)
    grad_n = np.stack([_index_gradient(u, k) for k in range(3)], axis=-1)
    direction = np.linalg.inv(np.asarray(basis, dtype=float)) @ np.asarray(q_hat, float)
    return np.where(np.isfinite(u), grad_n @ direction, np.nan)


def postprocess(obj, geometry: BraggGeometry | None = None, support=None, *,
                threshold: float = THRESHOLD, subpixel: bool = False, offset: str = "mean",
                orthogonal: bool = False, voxel_size: float | None = None) -> BraggResult:
    """Centre a phased Bragg crystal, remove its phase ramp and offset, and (with the
    geometry) read its displacement and strain along ``Q``.

    Parameters
    ----------
    obj : array (D, H, W), complex
        One phased object (frames, rows, columns), e.g. ``res.best_object``.
    geometry : BraggGeometry, optional
        Without it, only the centring and the ramp.
    support : array (D, H, W) of bool, optional
        The crystal's voxels (e.g. ``res.supports[res.best]``); default where the
        amplitude reaches ``threshold`` of its maximum (:func:`support_from_amplitude`).
    threshold : float
        See ``support``.
    subpixel : bool
        Centre by the exact sub-voxel amount (Fourier shift) rather than whole voxels
        (:func:`centre_object`).
    offset : ``"mean"`` or ``"com"``
        The phase set to 0: the amplitude-weighted mean over the support, or the phase
        at its centre of mass (:func:`remove_phase_ramp`).
    orthogonal : bool
        Resample to the laboratory frame (:func:`~.geometry.orthogonalise`, needs the
        geometry) before reading displacement and strain.
    voxel_size : float, optional
        The laboratory voxel, m (default: the shortest detector-frame voxel step).

    Returns
    -------
    BraggResult

    Raises
    ------
    ValueError
        ``obj`` not 3D, an empty support, ``orthogonal`` without a geometry.
    """
    arr = _check_object(obj)
    if geometry is not None and not isinstance(geometry, BraggGeometry):
        raise TypeError(f"geometry must be a BraggGeometry, got {type(geometry).__name__}")
    if orthogonal and geometry is None:
        raise ValueError("geometry is missing: orthogonal=True needs a BraggGeometry")
    s = support_from_amplitude(arr, support, threshold)
    arr, s, shift = centre_object(arr, s, subpixel=subpixel)
    cleaned, phase, ramp = remove_phase_ramp(arr, s, offset=offset)
    params = {"threshold": None if support is not None else threshold,
              "support_given": support is not None, "subpixel": subpixel,
              "offset": offset, "orthogonal": orthogonal, "support_voxels": int(s.sum())}
    result = BraggResult(cleaned, s, phase, ramp, shift, parameters=params)
    if geometry is None:
        return result
    result.geometry = geometry
    if orthogonal:
        cleaned, v = orthogonalise(cleaned, geometry, voxel_size)
        s, _ = orthogonalise(s, geometry, v, cleaned.shape)
        if s.sum() < 8:
            raise ValueError("support is empty after resampling: give a smaller voxel_size")
        phase = unwrapped_phase(cleaned, s)
        mean = np.average(phase[s], weights=np.abs(cleaned)[s])
        phase -= mean
        cleaned = (cleaned * np.exp(-1j * mean)).astype(np.complex64)
        result.object, result.support, result.phase = cleaned, s, phase
        result.frame, result.basis = "lab", v * np.eye(3)
        params["voxel_size"] = v
    else:
        result.basis = geometry.real_space_basis(arr.shape)
    result.displacement = displacement(result.phase, geometry)
    result.strain = strain(result.displacement, result.basis, geometry.q_hat)
    logger.info("Bragg post-processing (%s frame): ramp %s rad/voxel removed, offset "
                "%.3f rad; |u| <= %.3g m, |strain| <= %.3g", result.frame,
                np.round(ramp.gradient, 4), ramp.offset,
                np.nanmax(np.abs(result.displacement)), np.nanmax(np.abs(result.strain)))
    return result
