"""TomoPy's alignment helpers with TomoPy's signatures and senses.

An existing TomoPy script can swap ``tomopy.add_jitter`` / ``tomopy.shift_images`` for
these and keep every other line. The senses were read from TomoPy 1.15's source
(``tomopy/prep/alignment.py``):

* ``add_jitter(prj, low, high)`` returns ``(prj, dx, dy)`` with ``dx`` along columns and
  ``dy`` along rows; the content moves by ``(-dx, -dy)``.
* ``shift_images(prj, sx, sy)`` takes ``sx`` along **rows** and ``sy`` along **columns**;
  the content moves by ``(-sx, -sy)``. ``align_joint`` / ``align_seq`` return shifts in
  this sense, so ``shift_images(stack, sx, sy)`` applies an alignment to another stack.

Differences, on purpose: inputs are never modified in place (TomoPy's versions rescale
their input array in place), and shifts are sub-pixel (TomoPy's ``add_jitter`` rounds to
whole pixels). Borders are filled with zeros, as TomoPy's ``skimage.transform.warp``.
"""

from __future__ import annotations

import numpy as np

from .common.validation import as_array
from .prep.shifts import shift


def add_jitter(prj, low: float = 0, high: float = 1):
    """TomoPy's ``add_jitter``: random shifts from ``numpy.random.uniform(low, high)``.

    Returns ``(prj, dx, dy)``; the content of projection ``i`` moves by
    ``(-dx[i], -dy[i])`` (columns, rows). Uses NumPy's global random state, as TomoPy.

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


def align_joint(prj, ang, fdir=".", iters=1, pad=(0, 0), blur=True, center=None,
                algorithm="jitternet", upsample_factor=10, rin=0.5, rout=0.8, save=False,
                debug=True, model=None):
    """TomoPy's ``align_joint`` signature, with JitterNet doing the registration.

    Returns ``(prj, sx, sy, conv)`` as TomoPy: ``sx`` along rows and ``sy`` along columns,
    in ``shift_images``' sense, so ``shift_images(other_stack, sx, sy)`` applies the same
    alignment to another stack (another energy of a spectro-tomography scan, say).

    Unlike TomoPy 1.15's ``align_joint``, which returns its unaligned input (it returns
    the input array, not its working copy), the ``prj`` returned here IS the aligned
    stack; the input is not modified. ``conv`` holds, per cycle (and for the final
    polish of ``"jitternet"``), the norm of the shift update, as TomoPy's. ``fdir``,
    ``pad``, ``blur``, ``upsample_factor``, ``rin``, ``rout``, ``save`` and ``debug`` are
    accepted for compatibility and ignored;
    ``algorithm`` may be ``"jitternet"`` (default), ``"pc"`` or ``"reprojection"``.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> ang = np.linspace(0, np.pi, 60, endpoint=False)
    >>> prj = tda.reproject(tda.simulate.phantom("nanoparticles", 64, 32, seed=1), ang)
    >>> aligned, sx, sy, conv = align_joint(prj, ang)
    >>> aligned.shape, sx.shape, conv.shape
    ((60, 32, 64), (60,), (2,))
    """
    from .prep.alignment import AlignInfo, align, align_pc, align_reprojection

    info = AlignInfo()
    if algorithm == "jitternet":
        aligned, dx, dy = align(prj, ang, center=center, model=model, iters=iters, info=info)
    elif algorithm == "pc":
        aligned, dx, dy = align_pc(prj, ang, center=center, iters=iters, info=info)
    elif algorithm == "reprojection":
        aligned, dx, dy = align_reprojection(prj, ang, center=center, iters=iters, info=info)
    else:
        raise ValueError(f"algorithm must be 'jitternet', 'pc' or 'reprojection', "
                         f"got {algorithm!r}")
    steps = [np.zeros(2 * len(dx))] + [np.concatenate(h) for h in info.history]
    conv = np.array([np.linalg.norm(b - a) for a, b in zip(steps, steps[1:], strict=False)])
    # jitter (dx, dy) moved the content by +(dx, dy); TomoPy's shifts move it by -(sx, sy)
    return aligned, dy.copy(), dx.copy(), conv


def shift_images(prj, sx, sy):
    """TomoPy's ``shift_images``: ``sx`` along rows, ``sy`` along columns, content moves
    by ``(-sx, -sy)``.

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
