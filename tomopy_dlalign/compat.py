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

from .shifts import shift
from .validation import as_array


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
