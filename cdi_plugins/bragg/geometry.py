"""The geometry of a Bragg rocking-curve scan, and the detector frame to the laboratory.

A rocking-curve scan samples reciprocal space on a grid that is not orthogonal: one step
along the rocking angle moves the measured point perpendicular to ``Q``, one detector
pixel moves it perpendicular to the diffracted beam. The phased object is the inverse
transform of that grid, so its voxels are sheared too. :class:`BraggGeometry` holds the
few numbers of a simple diffractometer and gives the vectors of both grids in the
laboratory frame; :func:`orthogonalise` resamples a volume onto a cubic laboratory grid.

The diffractometer (vertical rocking axis, detector arm in the horizontal plane)
------------------------------------------------------------------------------------
Laboratory frame, right-handed, SI units: ``x`` along the incident beam (downstream),
``z`` vertical up, ``y = z x x`` horizontal (the side the detector swings to).

- incident wave vector ``k_i = k x``, ``k = 2 pi / lambda``;
- the detector sits at ``2theta`` in the horizontal plane, its face perpendicular to the
  diffracted beam ``k_f = k (cos 2theta, sin 2theta, 0)`` at ``distance``; detector
  **rows** grow downward (``-z``), **columns** toward larger ``2theta``, along
  ``c = (-sin 2theta, cos 2theta, 0)``;
- the scattering vector ``Q = k_f - k_i = 2 k sin(theta) (-sin theta, cos theta, 0)``;
- the sample rotates about ``+z`` by ``rocking_step`` per frame (right-handed: counter-
  clockwise seen from above); rotating the sample by ``d omega`` moves the point of
  its reciprocal space that a fixed pixel sees by ``-d omega (z x Q)``.

The reciprocal-space step along each array axis (frame, row, column) is then, to first
order about the Bragg peak,

    b_0 = -rocking_step (z x Q),   b_1 = k p_r / D (0, 0, -1),   b_2 = k p_c / D c,

the columns of ``B`` (:meth:`BraggGeometry.reciprocal_basis`). An array of ``N_j``
points per axis transformed with NumPy's ``fftn`` (``exp(-2 pi i m.n / N)``) pairs
``q = B m`` with ``r = A n`` when ``(B m).(A n) = 2 pi sum_j m_j n_j / N_j`` for all
``m, n``, that is ``B^T A = 2 pi diag(1 / N)``:

    A = 2 pi B^{-T} diag(1 / N)

whose columns are the laboratory vectors (m) of one voxel step along each array axis
(:meth:`BraggGeometry.real_space_basis`). This is the textbook construction of the
detector-to-laboratory transform of Bragg CDI: the reciprocal grid from the
diffractometer's angles and the detector's pixels, then the real-space grid as its
dual (Pfeifer, PhD thesis, UCL 2005; Harder & Robinson, JOM 65, 1202 (2013); Berenguer
de la Cuesta et al., Phys. Rev. B 79, 115427 (2009); Yang et al., J. Appl. Cryst. 52,
722 (2019) review the conventions). The first-order (small rocking range, far detector)
form is exact enough for the few tenths of a degree and the few hundred pixels of a
scan; the conjugate twin of a phased object maps ``r`` to ``-r``.

Example
-------
>>> g = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1.0,
...                   pixel_size=55e-6, rocking_step=0.005)
>>> round(g.two_theta, 2), round(g.q_norm * 1e-10, 4)     # Au 111 at 9 keV
(34.27, 2.6874)
>>> a = g.real_space_basis((32, 32, 32))
>>> [round(float(x) * 1e9, 1) for x in np.linalg.norm(a, axis=0)]    # voxel sizes, nm
[87.6, 78.3, 81.9]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

#: h c, eV m: the wavelength in m of a photon of 1 eV
HC_EV_M = 1.239841984e-6


def _positive(name: str, value, what: str) -> float:
    if value is None:
        raise ValueError(f"BraggGeometry.{name} is missing: give {what}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"BraggGeometry.{name} must be a number ({what}), "
                         f"got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"BraggGeometry.{name} must be a positive number ({what}), got {v!r}")
    return v


def _agree(a: float, b: float, names: str) -> None:
    if abs(a - b) > 1e-3 * abs(b):
        raise ValueError(f"BraggGeometry: {names} disagree ({a:.6g} against {b:.6g}): "
                         f"give one of them")


@dataclass(frozen=True, kw_only=True)
class BraggGeometry:
    """A Bragg rocking-curve scan on a vertical-axis diffractometer (module docstring).

    Attributes
    ----------
    energy : float, optional
        Photon energy, eV. Give it or ``wavelength`` (both: they must agree).
    wavelength : float, optional
        X-ray wavelength, m.
    d_spacing : float, optional
        Spacing of the reflecting lattice planes, m. Give it, ``q_norm`` or
        ``two_theta``.
    q_norm : float, optional
        ``|Q| = 2 pi / d``, 1/m.
    two_theta : float, optional
        Detector angle ``2theta``, degrees; by default the Bragg angle of the
        reflection, ``2 arcsin(lambda / 2d)``. Given with ``d_spacing`` or ``q_norm``,
        they must agree to 0.1 %.
    distance : float
        Sample-detector distance, m.
    pixel_size : float or (float, float)
        Detector pixel size, m: one number for square pixels, else (rows, columns).
    rocking_step : float
        Rocking angle per frame, degrees (negative when the scan turns the sample
        clockwise seen from above).
    """

    energy: float | None = None
    wavelength: float | None = None
    d_spacing: float | None = None
    q_norm: float | None = None
    two_theta: float | None = None
    distance: float | None = None
    pixel_size: float | tuple[float, float] | None = None
    rocking_step: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # a frozen dataclass completes its own fields
        if self.energy is None and self.wavelength is None:
            raise ValueError("BraggGeometry.energy is missing: give energy (eV) or "
                             "wavelength (m)")
        if self.wavelength is None:
            set_(self, "energy", _positive("energy", self.energy, "the photon energy in eV"))
            set_(self, "wavelength", HC_EV_M / self.energy)
        else:
            set_(self, "wavelength", _positive("wavelength", self.wavelength,
                                               "the X-ray wavelength in m"))
            if self.energy is not None:
                _agree(_positive("energy", self.energy, "the photon energy in eV"),
                       HC_EV_M / self.wavelength, "energy and wavelength")
            set_(self, "energy", HC_EV_M / self.wavelength)
        self._reflection(set_)
        set_(self, "distance", _positive("distance", self.distance,
                                         "the sample-detector distance in m"))
        set_(self, "pixel_size", self._pixels())
        step = self.rocking_step
        if step is None:
            raise ValueError("BraggGeometry.rocking_step is missing: give the rocking "
                             "angle per frame in degrees")
        if not (isinstance(step, (int, float, np.floating)) and math.isfinite(step)
                and step != 0):
            raise ValueError(f"BraggGeometry.rocking_step must be a non-zero number of "
                             f"degrees per frame, got {step!r}")
        set_(self, "rocking_step", float(step))

    def _reflection(self, set_) -> None:
        """Fill ``d_spacing``, ``q_norm`` and ``two_theta`` from whichever was given."""
        lam = self.wavelength
        if self.d_spacing is None and self.q_norm is None:
            if self.two_theta is None:
                raise ValueError("BraggGeometry.d_spacing is missing: give the reflection's "
                                 "d_spacing (m), q_norm (1/m) or two_theta (degrees)")
            tt = _positive("two_theta", self.two_theta, "the detector angle in degrees")
            set_(self, "d_spacing", lam / (2 * math.sin(math.radians(tt) / 2)))
        elif self.d_spacing is not None:
            set_(self, "d_spacing", _positive("d_spacing", self.d_spacing,
                                              "the lattice-plane spacing in m"))
            if self.q_norm is not None:
                _agree(_positive("q_norm", self.q_norm, "|Q| in 1/m"),
                       2 * math.pi / self.d_spacing, "d_spacing and q_norm")
        else:
            set_(self, "d_spacing", 2 * math.pi / _positive("q_norm", self.q_norm,
                                                            "|Q| in 1/m"))
        set_(self, "q_norm", 2 * math.pi / self.d_spacing)
        ratio = lam / (2 * self.d_spacing)
        if ratio >= 1:
            raise ValueError(f"BraggGeometry: no Bragg reflection of d_spacing "
                             f"{self.d_spacing:.4g} m at wavelength {lam:.4g} m "
                             f"(lambda / 2d = {ratio:.3g} >= 1)")
        two_theta = math.degrees(2 * math.asin(ratio))
        if self.two_theta is not None:
            _agree(_positive("two_theta", self.two_theta, "the detector angle in degrees"),
                   two_theta, "two_theta and the reflection's Bragg angle")
        set_(self, "two_theta", two_theta)

    def _pixels(self) -> tuple[float, float]:
        p = self.pixel_size
        if p is None:
            raise ValueError("BraggGeometry.pixel_size is missing: give the detector pixel "
                             "size in m")
        if np.ndim(p) == 0:
            p = (p, p)
        if len(p) != 2:
            raise ValueError(f"BraggGeometry.pixel_size must be one number or (rows, "
                             f"columns) in m, got {self.pixel_size!r}")
        return tuple(_positive("pixel_size", v, "the detector pixel size in m") for v in p)

    @property
    def q_vector(self) -> np.ndarray:
        """``Q`` in the laboratory frame ``(x, y, z)``, 1/m."""
        theta = math.radians(self.two_theta) / 2
        return self.q_norm * np.array([-math.sin(theta), math.cos(theta), 0.0])

    @property
    def q_hat(self) -> np.ndarray:
        """The unit vector along ``Q`` in the laboratory frame."""
        return self.q_vector / self.q_norm

    def reciprocal_basis(self) -> np.ndarray:
        """``B`` (3, 3), 1/m: column ``j`` is the step in reciprocal space of one index
        along array axis ``j`` (frame, row, column), in the laboratory frame."""
        k = 2 * math.pi / self.wavelength
        tt = math.radians(self.two_theta)
        q = self.q_vector
        d_omega = math.radians(self.rocking_step)
        rows, cols = self.pixel_size
        b0 = -d_omega * np.cross([0.0, 0.0, 1.0], q)
        b1 = k * rows / self.distance * np.array([0.0, 0.0, -1.0])
        b2 = k * cols / self.distance * np.array([-math.sin(tt), math.cos(tt), 0.0])
        return np.stack([b0, b1, b2], axis=1)

    def real_space_basis(self, shape) -> np.ndarray:
        """``A = 2 pi B^{-T} diag(1 / N)`` (3, 3), m: column ``j`` is the laboratory
        vector of one voxel step along array axis ``j`` of an object phased from a
        pattern of ``shape`` (frames, rows, columns)."""
        n = np.asarray(shape, dtype=float)
        if n.shape != (3,) or (n < 1).any():
            raise ValueError(f"shape must be the 3 sizes (frames, rows, columns), got {shape!r}")
        return 2 * math.pi * np.linalg.inv(self.reciprocal_basis()).T / n

    def as_dict(self) -> dict:
        """The fields (SI units, angles in degrees), for the files' records."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def check_volume(volume, name: str = "volume") -> np.ndarray:
    """``volume`` as an array, refused unless it is 3D."""
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a 3D array (frames, rows, columns), "
                         f"got shape {arr.shape}")
    return arr


def orthogonalise(volume, geometry: BraggGeometry, voxel_size: float | None = None,
                  shape=None, order: int = 1):
    """Resample a volume from the detector frame onto a cubic laboratory grid.

    Output voxel ``o`` sits at ``r = v (o - c_out)`` in the laboratory frame; it reads
    the input at index ``A^{-1} r + c_in`` (``A``: :meth:`BraggGeometry.real_space_basis`;
    ``c = N // 2``, the array centres), interpolated by
    :func:`scipy.ndimage.affine_transform` (0 outside the input).

    Parameters
    ----------
    volume : array (D, H, W)
        Real, complex (real and imaginary parts resampled apart) or boolean (resampled
        linearly and kept where it reaches 0.5).
    geometry : BraggGeometry
    voxel_size : float, optional
        The output voxel ``v``, m. Default: the shortest of the input's three voxel
        steps (no detail is lost along any direction).
    shape : (int, int, int), optional
        The output shape. Default: the box that holds the whole input, each size even.
    order : int
        Spline order of the interpolation (1: linear, no overshoot at the crystal edge).

    Returns
    -------
    (numpy.ndarray, float)
        The volume on the laboratory grid, axes ``(x, y, z)`` (downstream, horizontal,
        up), and ``v`` in m.

    Example
    -------
    >>> g = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1.0,
    ...                   pixel_size=55e-6, rocking_step=0.005)
    >>> lab, v = orthogonalise(np.ones((16, 16, 16)), g)
    >>> lab.shape, round(v * 1e9, 1)
    ((20, 28, 16), 156.5)
    """
    from scipy import ndimage

    arr = check_volume(volume)
    if not isinstance(geometry, BraggGeometry):
        raise TypeError(f"geometry must be a BraggGeometry, got {type(geometry).__name__}")
    a = geometry.real_space_basis(arr.shape)
    if voxel_size is None:
        v = float(np.linalg.norm(a, axis=0).min())
    elif not (np.isscalar(voxel_size) and math.isfinite(voxel_size) and voxel_size > 0):
        raise ValueError(f"voxel_size must be a positive number of m, got {voxel_size!r}")
    else:
        v = float(voxel_size)
    if shape is None:
        half = np.abs(a @ np.array(np.meshgrid(*[(-n / 2, n / 2) for n in arr.shape])
                                   ).reshape(3, -1)).max(axis=1) / v
        shape = tuple(int(2 * math.ceil(h)) for h in half)
    shape = tuple(int(s) for s in shape)
    matrix = v * np.linalg.inv(a)
    offset = np.array(arr.shape) // 2 - matrix @ (np.array(shape) // 2)

    def resample(x):
        return ndimage.affine_transform(x, matrix, offset, output_shape=shape, order=order,
                                        mode="constant", cval=0.0)

    if arr.dtype == bool:
        return resample(arr.astype(np.float32)) >= 0.5, v
    if np.iscomplexobj(arr):
        out = resample(arr.real) + 1j * resample(arr.imag)
        return out.astype(arr.dtype), v
    return resample(arr), v
