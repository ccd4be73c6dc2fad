"""Scoring an alignment against known jitter, with what no alignment can see removed.

A sample translated by (tx, ty) in the slice plane produces the horizontal jitter
``tx cos(theta) + ty sin(theta)``, indistinguishable from projections alone; the common
vertical offset likewise moves the whole object."""

from __future__ import annotations

import numpy as np

from ..common.validation import as_theta


def residuals(dx_est, dy_est, dx_true, dy_true, theta=None) -> tuple[np.ndarray, np.ndarray]:
    """Residual jitter per projection after removing what the data cannot determine.

    Without ``theta``: the common offset of each axis. With ``theta``: also the rigid
    translation of the object in the slice plane, ``tx cos(theta) + ty sin(theta)`` in
    ``dx``. A sample translated by ``(tx, ty)`` gives exactly the projections of that
    jitter, so no alignment from the projections alone can tell the two apart: it only
    moves the reconstruction. For independent jitter of standard deviation ``s`` over
    ``n`` angles that term alone is about ``s * sqrt(2 / n)`` px RMS (0.6 px for +-10 px
    uniform jitter and 181 angles), whatever the method.
    """
    rx = np.asarray(dx_est, np.float64) - np.asarray(dx_true, np.float64)
    ry = np.asarray(dy_est, np.float64) - np.asarray(dy_true, np.float64)
    if theta is None:
        return rx - rx.mean(), ry - ry.mean()
    th = as_theta(theta, rx.shape[0])
    basis = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, rx, rcond=None)
    return rx - basis @ coef, ry - ry.mean()


def residual_rmse(dx_est, dy_est, dx_true, dy_true, theta=None) -> float:
    """RMS of the 2D residual jitter (see :func:`residuals`; with ``theta`` the rigid
    translation of the object is removed too)."""
    rx, ry = residuals(dx_est, dy_est, dx_true, dy_true, theta)
    return float(np.sqrt(np.mean(rx**2 + ry**2)))


def fraction_within(dx_est, dy_est, dx_true, dy_true, tol: float = 1.0, theta=None) -> float:
    """Share of projections whose 2D residual (see :func:`residuals`) is below ``tol``."""
    rx, ry = residuals(dx_est, dy_est, dx_true, dy_true, theta)
    return float(np.mean(np.hypot(rx, ry) < tol))

