"""Record TomoPy's alignment shapes and senses as small ``.npz`` fixtures.

The inputs are analytic projections of Gaussian blobs (no interpolation, so the jitter
is exact) which the tests rebuild with :func:`blob_projections`; the files hold only the
parameters and what TomoPy returned. Run it where TomoPy is importable (TomoPy 1.15.2
built from its public source with CMake, as in the README's note on TomoPy)::

    LD_LIBRARY_PATH=$VENV/lib python tests/tomopy_dlalign/compat/make_fixtures.py

It writes ``add_jitter.npz``, ``shift_images.npz``, ``align_joint.npz``,
``align_seq.npz`` and ``find_center.npz`` beside itself (about 60 KB in all).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: blobs as (x, y, z, sigma, amplitude), pixels about the rotation axis and mid-height
BLOBS = np.array([[6.0, -3.0, 2.0, 2.5, 1.0], [-7.0, 4.0, -5.0, 2.0, 0.8],
                  [1.0, 8.0, 6.0, 3.0, 0.6], [-2.0, -8.0, -1.0, 1.5, 1.2],
                  [9.0, 5.0, -7.0, 2.0, 0.7]])
#: the alignment case: angles, rows, columns, jitter half-range, TomoPy's pad and iters
NPROJ, NSLICE, NCOL, JITTER, PAD, ITERS = 48, 32, 48, 3.0, (4, 2), 5

logger = logging.getLogger("make_fixtures")


def blob_projections(theta, nslice: int, ncol: int, jitter_cols=None, jitter_rows=None,
                     center: float | None = None, blobs=BLOBS) -> np.ndarray:
    """Parallel projections ``(nproj, nslice, ncol)`` of 3D Gaussian blobs, each
    projection's content moved by ``+jitter_cols`` columns and ``+jitter_rows`` rows;
    the rotation axis projects to ``center`` (default ``ncol / 2``)."""
    theta = np.asarray(theta, np.float64)
    c = ncol / 2 if center is None else center
    jc = np.zeros_like(theta) if jitter_cols is None else np.asarray(jitter_cols, float)
    jr = np.zeros_like(theta) if jitter_rows is None else np.asarray(jitter_rows, float)
    u = np.arange(ncol) + 0.5 - c
    z = np.arange(nslice) + 0.5 - nslice / 2
    out = np.zeros((theta.size, nslice, ncol))
    for x0, y0, z0, s, a in blobs:
        u0 = x0 * np.cos(theta) + y0 * np.sin(theta) + jc
        gu = np.exp(-(u[None, :] - u0[:, None]) ** 2 / (2 * s * s))
        gz = np.exp(-(z[None, :] - z0 - jr[:, None]) ** 2 / (2 * s * s))
        out += a * np.sqrt(2 * np.pi) * s * gz[:, :, None] * gu[:, None, :]
    return out.astype(np.float32)


def alignment_case():
    """``(prj, theta, jitter_cols, jitter_rows)`` of the alignment fixtures."""
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False)
    rng = np.random.default_rng(7)
    jc, jr = rng.uniform(-JITTER, JITTER, (2, NPROJ))
    return blob_projections(theta, NSLICE, NCOL, jc, jr), theta, jc, jr


def _record_alignment(tomopy, name: str) -> None:
    prj, theta, jc, jr = alignment_case()
    given = prj.copy()
    out, sx, sy, conv = getattr(tomopy, name)(given, theta, pad=PAD, iters=ITERS)
    padded = np.pad(prj, ((0, 0), (PAD[1], PAD[1]), (PAD[0], PAD[0])))
    np.savez_compressed(
        HERE / f"{name}.npz", theta=theta, jitter_cols=jc, jitter_rows=jr, pad=PAD,
        iters=ITERS, sx=sx, sy=sy, conv=conv, out_shape=out.shape,
        returns_padded_input=np.allclose(out, padded, rtol=1e-4, atol=1e-5),
        input_modified=not np.array_equal(given, prj),
        out_rows=out.sum(2).astype(np.float32), out_cols=out.sum(1).astype(np.float32))


def _record_small(tomopy) -> None:
    theta = np.linspace(0, np.pi, 3, endpoint=False)
    stack = blob_projections(theta, 16, 20)
    np.random.seed(3)
    given = stack.copy()
    out, dx, dy = tomopy.add_jitter(given, -3, 3)
    np.savez_compressed(HERE / "add_jitter.npz", prj=stack, seed=3, low=-3, high=3,
                        out=out, dx=dx, dy=dy, input_modified=not np.array_equal(given, stack))
    sx, sy = np.array([1.5, -2.25, 0.0]), np.array([-0.5, 3.0, 2.75])
    given = stack.copy()
    out = tomopy.shift_images(given, sx, sy)
    np.savez_compressed(HERE / "shift_images.npz", prj=stack, sx=sx, sy=sy, out=out,
                        input_modified=not np.array_equal(given, stack))
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    tomo = blob_projections(theta, 8, 48, center=27.0)
    np.savez_compressed(HERE / "find_center.npz", theta=theta, nslice=8, ncol=48,
                        true_center=27.0, center=tomopy.find_center(tomo, theta))


def main() -> None:
    """Record every fixture with the TomoPy that is importable here."""
    import tomopy

    logging.basicConfig(level=logging.INFO)
    logger.info("recording fixtures with TomoPy %s", tomopy.__version__)
    _record_small(tomopy)
    for name in ("align_joint", "align_seq"):
        _record_alignment(tomopy, name)
    logger.info("wrote %s", sorted(p.name for p in HERE.glob("*.npz")))


if __name__ == "__main__":
    main()
