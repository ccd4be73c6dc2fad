"""Physical units of the metadata the readers return.

Every reader reports ``pixel_size`` in metres and ``energy`` in keV, whatever the file
stores; the conversion happens here, from the file's own ``units`` attribute where it has
one.
"""

from __future__ import annotations

import logging

import numpy as np

from ..common.validation import as_array

logger = logging.getLogger(__name__)

_LENGTH = {"m": 1.0, "meter": 1.0, "metre": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6,
           "µm": 1e-6, "μm": 1e-6, "micron": 1e-6, "microns": 1e-6, "micrometer": 1e-6,
           "micrometre": 1e-6, "nm": 1e-9, "nanometer": 1e-9, "nanometre": 1e-9}
_ENERGY = {"kev": 1.0, "ev": 1e-3, "mev": 1e3, "j": 1.0 / 1.602176634e-16}
_ANGLE = {"deg": False, "degree": False, "degrees": False, "rad": True, "radian": True,
          "radians": True}


def _text(units) -> str:
    if isinstance(units, bytes):
        units = units.decode("utf-8", "replace")
    return str(units).strip()


def _physical(value: float, where: str) -> bool:
    """Whether a pixel size or an energy can be one (finite and positive); a warning
    naming ``where`` when not, as the value is then dropped."""
    if np.isfinite(value) and value > 0:
        return True
    logger.warning("%s is %r, not a positive number: ignoring it (the scan is read "
                   "without it)", where, value)
    return False


def length_in_m(value: float, units, where: str, default: str = "m") -> float | None:
    """A length in metres, from a value and its units (``"m"``, ``"mm"``, ``"um"``, ...).

    ``units=None`` means ``default``, and that assumption is logged, naming ``where``. A
    value that is not finite and positive gives None, with a warning naming ``where``.
    """
    if units is None:
        logger.info("%s has no units attribute: assuming %s", where, default)
        units = default
    key = _text(units)
    factor = _LENGTH.get(key, _LENGTH.get(key.lower()))
    if factor is None:
        raise ValueError(f"{where} has units {key!r}; expected one of m, mm, um, nm")
    return float(value) * factor if _physical(float(value), where) else None


def energy_in_kev(value: float, units, where: str, default: str = "keV") -> float | None:
    """An energy in keV, from a value and its units (``"keV"``, ``"eV"``, ``"J"``); None,
    with a warning naming ``where``, for a value that is not finite and positive."""
    if units is None:
        logger.info("%s has no units attribute: assuming %s", where, default)
        units = default
    key = _text(units).lower()
    if key not in _ENERGY:
        raise ValueError(f"{where} has units {_text(units)!r}; expected keV, eV or J")
    return float(value) * _ENERGY[key] if _physical(float(value), where) else None


def is_radians(units, where: str) -> bool:
    """Whether an angle's ``units`` attribute says radians (False: degrees)."""
    key = _text(units).lower()
    if key not in _ANGLE:
        raise ValueError(f"{where} has units {_text(units)!r}; expected degree or rad")
    return _ANGLE[key]


def angles_in_rad(values, units, where: str) -> np.ndarray:
    """Angles in radians: degrees unless ``units`` says ``"rad"`` or ``"radian"``."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if units is None:
        logger.info("%s has no units attribute: assuming degrees", where)
        return np.deg2rad(arr)
    return arr if is_radians(units, where) else np.deg2rad(arr)


def theta_in_degrees(theta, nproj: int) -> np.ndarray | None:
    """Angles to store on disk: ``theta`` (radians, one per projection) in degrees, or
    None; the writers' one check of the count."""


    if theta is None:
        return None
    th = as_array(theta, "theta", ndim=1, dtype=np.float64)
    if th.size != nproj:
        raise ValueError(f"theta has {th.size} angles but data holds {nproj} projections")
    return np.rad2deg(th)
