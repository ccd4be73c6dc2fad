"""TomoPy's alignment API with TomoPy's signatures, defaults, shapes and senses.

An existing TomoPy script swaps ``tomopy.align_joint`` / ``align_seq`` / ``shift_images``
/ ``add_jitter`` / ``find_center`` for these and keeps every other line, for example
``from tomopy_dlalign import compat as tomopy`` for the alignment calls. The senses were
read from TomoPy 1.15.2's source (``tomopy/prep/alignment.py``) and are checked against
fixtures recorded from TomoPy itself (``tests/tomopy_dlalign/compat/``):

* ``add_jitter(prj, low, high)`` returns ``(prj, dx, dy)`` with ``dx`` along columns and
  ``dy`` along rows; the content moves by ``(-dx, -dy)``.
* ``shift_images(prj, sx, sy)`` takes ``sx`` along **rows** and ``sy`` along **columns**;
  the content moves by ``(-sx, -sy)``. ``align_joint`` / ``align_seq`` return shifts in
  this sense, so ``shift_images(stack, sx, sy)`` applies an alignment to another stack.
* ``align_joint`` / ``align_seq`` pad the stack as TomoPy does (``pad=(px, py)``: ``px``
  zero columns and ``py`` zero rows on each side) and return the padded shape;
  ``center=None`` is the middle of the padded detector, ``ncol / 2``, as in TomoPy.

Differences, on purpose, from TomoPy 1.15.2's defects: inputs are never modified in
place (TomoPy divides the caller's array by its maximum in place), ``align_joint``
returns the aligned stack (TomoPy's returns its padded, unaligned input), and shifts are
sub-pixel (TomoPy's ``add_jitter`` rounds to whole pixels). Borders are filled with zeros,
as TomoPy's ``skimage.transform.warp``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from .common.validation import as_array
from .prep.shifts import shift

logger = logging.getLogger(__name__)

#: TomoPy's reconstruction algorithms: accepted by name (or a callable) and run here as
#: the JitterNet cycle, whose reconstruct-reproject step is MLEM (the step the network
#: was trained on; an FBP or SIRT reprojection would be outside its training data)
TOMOPY_ALGORITHMS = ("art", "bart", "fbp", "gridrec", "mlem", "osem", "ospml_hybrid",
                     "ospml_quad", "pml_hybrid", "pml_quad", "sirt", "tikh", "tv", "grad")
#: this package's own aligners, also accepted
OWN_ALGORITHMS = ("jitternet", "pc", "reprojection")


def add_jitter(prj, low: float = 0, high: float = 1):
    """TomoPy's ``add_jitter``: random shifts from ``numpy.random.uniform(low, high)``.

    Returns ``(prj, dx, dy)``; the content of projection ``i`` moves by
    ``(-dx[i], -dy[i])`` (columns, rows). Uses NumPy's global random state with TomoPy's
    single draw of shape ``(nproj, 2)``, so after the same ``numpy.random.seed`` the
    shifts equal TomoPy's exactly.

    Example
    -------
    >>> import numpy as np
    >>> out, dx, dy = add_jitter(np.zeros((2, 4, 4), np.float32), 0, 1)
    >>> out.shape, dx.shape
    ((2, 4, 4), (2,))
    """
    arr = as_array(prj, "prj", ndim=3)
    jitter = np.random.uniform(low, high, size=(arr.shape[0], 2))
    dx, dy = jitter[:, 0], jitter[:, 1]
    return shift(arr, -dx, -dy, mode="constant"), dx, dy


def align_joint(prj, ang, fdir: str = "./", iters: int = 10, pad=(0, 0), blur: bool = True,
                center: float | str | None = None, algorithm: str | Callable = "sirt",
                upsample_factor: int = 10, rin: float = 0.5, rout: float = 0.8,
                save: bool = False, debug: bool = True, *, model=None):
    """TomoPy's ``align_joint``, with JitterNet doing the registration.

    Parameters
    ----------
    prj : ndarray (nproj, nslice, ncol)
        Line integrals; not modified.
    ang : ndarray (nproj,)
        Angles in radians.
    fdir : str
        Folder of the files written when ``save`` is true.
    iters : int
        Alignment cycles, at most (TomoPy's default 10): the cycles stop once one no
        longer lowers the reprojection error, and the most consistent shifts are kept.
    pad : (int, int)
        Zero columns and zero rows added on each side, as TomoPy; the stack returned has
        the padded shape ``(nproj, nslice + 2 * pad[1], ncol + 2 * pad[0])``.
    blur, upsample_factor, rin, rout : optional
        Accepted for TomoPy's signature and not used: TomoPy feathers the image edges
        (``blur``, ``rin``, ``rout``) and upsamples the cross-correlation by
        ``upsample_factor``; here the network and the sub-pixel phase correlation of the
        polish register whole images.
    center : float, "auto" or None
        Rotation axis of the (padded) stack in pixels; ``None`` is ``ncol / 2`` of the
        padded stack, as in TomoPy; ``"auto"`` finds it.
    algorithm : str or callable
        One of TomoPy's reconstruction names (``"sirt"``, ``"mlem"``, ``"gridrec"``, ...,
        see ``TOMOPY_ALGORITHMS``) or a callable: the JitterNet cycle, with MLEM as its
        reconstruction. ``"jitternet"`` is the same; ``"pc"`` and ``"reprojection"``
        select the baselines :func:`~tomopy_dlalign.align_pc` and
        :func:`~tomopy_dlalign.align_reprojection`.
    save : bool
        Write the shifts of each cycle (``fdir/tmp/iters/sx/<n>.tiff``, ``.../sy/...``)
        and the aligned stack (``fdir/tmp/iters/prj/<n>.tiff``), as TIFF.
    debug : bool
        Log each cycle's ``iter=n, err=...`` at INFO level (TomoPy prints it).
    model : JitterNet or path, optional
        Keyword only, not TomoPy's: the network's weights (default: the shipped ones).

    Returns
    -------
    prj : ndarray, float32
        The aligned, padded stack (TomoPy 1.15.2 returns the unaligned one).
    sx, sy : ndarray (nproj,)
        Shifts along rows and columns in ``shift_images``' sense: ``shift_images(other,
        sx, sy)`` applies the same alignment to another stack of the padded shape.
    conv : ndarray (iters,)
        Norm over projections of the shift change in each cycle, as TomoPy's; the last
        cycle run includes the final polish, and cycles not run are 0.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> ang = np.linspace(0, np.pi, 60, endpoint=False)
    >>> prj = tda.reproject(tda.simulate.phantom("nanoparticles", 64, 32, seed=1), ang)
    >>> aligned, sx, sy, conv = align_joint(prj, ang, pad=(4, 0))
    >>> aligned.shape, sx.shape, conv.shape
    ((60, 32, 72), (60,), (10,))
    """
    return _align_tomopy(prj, ang, fdir, iters, pad, center, algorithm, save, debug, model)


def align_seq(prj, ang, fdir: str = ".", iters: int = 10, pad=(0, 0), blur: bool = True,
              center: float | str | None = None, algorithm: str | Callable = "sirt",
              upsample_factor: int = 10, rin: float = 0.5, rout: float = 0.8,
              save: bool = False, debug: bool = True, *, model=None):
    """TomoPy's ``align_seq``: the same parameters, returns and senses as
    :func:`align_joint`.

    TomoPy's sequential variant reconstructs afresh at every cycle where the joint one
    carries the reconstruction over; the JitterNet cycle already does both (a fresh MLEM
    per network cycle, a carried one in the polish), so the two run the same alignment
    here. TomoPy's ``align_seq`` returns the aligned padded stack, as this one does.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> ang = np.linspace(0, np.pi, 60, endpoint=False)
    >>> prj = tda.reproject(tda.simulate.phantom("nanoparticles", 64, 32, seed=1), ang)
    >>> aligned, sx, sy, conv = align_seq(prj, ang, iters=2)
    >>> aligned.shape, conv.shape
    ((60, 32, 64), (2,))
    """
    return _align_tomopy(prj, ang, fdir, iters, pad, center, algorithm, save, debug, model)


def _check_pad(pad) -> tuple[int, int]:
    try:
        px, py = (int(v) for v in pad)
    except (TypeError, ValueError):
        raise ValueError(f"pad must be two non-negative integers (columns, rows), "
                         f"got {pad!r}") from None
    if px < 0 or py < 0 or (px, py) != tuple(pad):
        raise ValueError(f"pad must be two non-negative integers (columns, rows), got {pad!r}")
    return px, py


def _aligner(algorithm):
    """The aligner a TomoPy ``algorithm`` name (or callable) runs here."""
    from .prep.alignment import align, align_pc, align_reprojection

    if callable(algorithm) or algorithm in TOMOPY_ALGORITHMS or algorithm == "jitternet":
        return align
    if algorithm == "pc":
        return align_pc
    if algorithm == "reprojection":
        return align_reprojection
    raise ValueError(f"algorithm must be one of TomoPy's {TOMOPY_ALGORITHMS}, a callable, "
                     f"or one of {OWN_ALGORITHMS}, got {algorithm!r}")


def _align_tomopy(prj, ang, fdir, iters, pad, center, algorithm, save, debug, model):
    """What :func:`align_joint` and :func:`align_seq` share."""
    from .prep.alignment import AlignInfo, align, check_iters

    arr = as_array(prj, "prj", ndim=3)
    iters = check_iters(iters)
    px, py = _check_pad(pad)
    method = _aligner(algorithm)
    padded = np.pad(arr, ((0, 0), (py, py), (px, px))) if px or py else arr
    info = AlignInfo()
    kwargs = {"model": model} if method is align else {}
    aligned, dx, dy = method(padded, ang, center=center, iters=iters, info=info, **kwargs)
    conv = _conv(info.history, len(dx), iters)
    if debug:
        for n, err in enumerate(conv):
            logger.info("iter=%d, err=%g", n, err / len(dx))
    if save:
        _save_iterations(fdir, info.history, aligned)
    # jitter (dx, dy) moved the content by +(dx, dy); TomoPy's shifts move it by -(sx, sy)
    return aligned, dy.copy(), dx.copy(), conv


def _conv(history, nproj: int, iters: int) -> np.ndarray:
    """TomoPy's ``conv``: the norm of each cycle's shift change, ``iters`` long."""
    steps = [np.zeros(2 * nproj)] + [np.concatenate(h) for h in history]
    conv = np.zeros(iters)
    used = min(iters, len(steps) - 1)
    for n in range(used):
        end = steps[-1] if n == used - 1 else steps[n + 1]
        conv[n] = np.linalg.norm(end - steps[n])
    return conv


def _save_iterations(fdir: str, history, aligned: np.ndarray) -> None:
    """TomoPy's ``save``: files ``fdir/tmp/iters/{sx,sy,prj}/<n>.tiff``."""
    import tifffile

    root = os.path.join(fdir, "tmp", "iters")
    for n, (dx, dy) in enumerate(history):
        for name, values in (("sx", dy), ("sy", dx)):
            os.makedirs(os.path.join(root, name), exist_ok=True)
            tifffile.imwrite(os.path.join(root, name, f"{n}.tiff"), values.astype(np.float32))
    os.makedirs(os.path.join(root, "prj"), exist_ok=True)
    tifffile.imwrite(os.path.join(root, "prj", f"{max(len(history) - 1, 0)}.tiff"), aligned)
    logger.info("wrote the shifts of %d cycles and the aligned stack to %s", len(history), root)


def shift_images(prj, sx, sy):
    """TomoPy's ``shift_images``: ``sx`` along rows, ``sy`` along columns, content moves
    by ``(-sx, -sy)``. Returns a shifted copy (TomoPy's shifts the input in place).

    Example
    -------
    >>> import numpy as np
    >>> p = np.zeros((1, 5, 5), np.float32); p[0, 2, 2] = 1
    >>> np.argwhere(shift_images(p, [1], [2])[0] == 1).tolist()
    [[1, 0]]
    """
    arr = as_array(prj, "prj", ndim=3)
    return shift(arr, dx=-np.asarray(sy, dtype=np.float64), dy=-np.asarray(sx, np.float64),
                 mode="constant")


def find_center(tomo, theta, ind: int | None = None, init: float | None = None,
                tol: float = 0.5, mask: bool = True, ratio: float = 1.0,
                sinogram_order: bool = False) -> float:
    """TomoPy's ``find_center`` signature, answered by :func:`tomopy_dlalign.find_center`.

    ``ind`` picks one slice, as TomoPy; ``None`` uses them all (TomoPy uses the middle
    one). ``init`` centres the mirror search. ``tol``, ``mask`` and ``ratio`` belong to
    TomoPy's entropy search and are not used: the estimate here is continuous.
    ``sinogram_order=True`` reads ``tomo`` as ``(nslice, nproj, ncol)``.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> theta = np.linspace(0, np.pi, 90, endpoint=False)
    >>> prj = tda.reproject(tda.simulate.phantom("nanoparticles", 64, 4, seed=0), theta,
    ...                     center=35.0)
    >>> round(find_center(prj, theta), 1)
    35.0
    """
    from .recon.center import find_center as _find

    arr = as_array(tomo, "tomo", ndim=3)
    if sinogram_order:
        arr = arr.transpose(1, 0, 2)
    if ind is not None:
        if not -arr.shape[1] <= int(ind) < arr.shape[1]:
            raise ValueError(f"ind must be a slice index below {arr.shape[1]}, got {ind!r}")
        arr = arr[:, int(ind):int(ind) + 1] if ind >= 0 else arr[:, [int(ind)]]
    return _find(np.ascontiguousarray(arr), theta, init=init)
