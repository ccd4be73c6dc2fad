"""Step 1 of ConvRe: every run in a common frame, cropped to the joint support.

:func:`prepare` aligns every run to a common frame (translation, twin image, global
phase: :func:`cdi_plugins.metrics.align_to`), crops the joint support's bounding box
(widened to hold the object of the lowest-chi^2 runs whole) and normalises each crop;
:func:`prepare_by_chi2` is how :func:`cdi_plugins.convre.convre` and the training data
of the feature extractor call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from .. import metrics
from ..phasing.shrinkwrap import ShrinkWrap

#: How the runs ConvRe clusters are phased: the classic max-threshold shrink-wrap and no
#: withheld pixels, no low-resolution start, as the shipped feature extractor's training
#: runs were. Pass it to
#: ``phase_retrieval(..., **PHASING)`` (CLI: ``cdi-plugins phase --protocol convre``);
#: runs phased otherwise differ in kind from what the features learned to tell apart.
PHASING = {"shrinkwrap": ShrinkWrap.max_rule(), "free_fraction": 0.0, "support_start": "core",
           "low_resolution": False}


def check_runs(objects, name: str = "objects", min_runs: int = 2) -> np.ndarray:
    """Validate a stack of reconstructions: complex ``(n_runs, H, W)``, finite, not zero.

    Raises
    ------
    ValueError
        Not 3D, fewer than ``min_runs`` runs, NaN or infinite values, an all-zero run.
    TypeError
        A list of runs of different shapes, or a non-numeric array.
    """
    if isinstance(objects, (list, tuple)) and len({np.shape(o) for o in objects}) > 1:
        shapes = sorted({tuple(np.shape(o)) for o in objects})
        raise ValueError(f"{name} must all have the same shape, got runs of shapes {shapes}")
    a = as_array(objects, name, ndim=3, dtype=np.complex64)
    if a.shape[0] < min_runs:
        raise ValueError(f"{name} must hold at least {min_runs} runs, got {a.shape[0]}")
    zero = ~np.abs(a).reshape(len(a), -1).any(axis=1)
    if zero.any():
        raise ValueError(f"{name} run(s) {np.flatnonzero(zero).tolist()} are zero everywhere")
    return a


@dataclass
class Prepared:
    """Runs in a common frame, what :func:`prepare` returns.

    Attributes
    ----------
    aligned : numpy.ndarray
        complex64 ``(n_runs, H, W)``: every run aligned to the common reference
        (translation, twin, global phase), at its original scale; averages and PRTFs are
        computed from these.
    crops : numpy.ndarray
        complex64 ``(n_runs, h, w)``: the joint support's bounding box of each aligned run,
        divided by its norm (unit energy), the input of :func:`features`.
    box : tuple of slice
        The bounding box in the full array.
    reference : numpy.ndarray
        complex64 ``(H, W)``, the common frame (the mean of the runs aligned to the seed
        run, normalised).
    """

    aligned: np.ndarray
    crops: np.ndarray
    box: tuple[slice, slice]
    reference: np.ndarray


def _joint_box(aligned: np.ndarray, threshold: float, margin: int) -> tuple[slice, slice]:
    amp = np.abs(aligned / np.linalg.norm(aligned.reshape(len(aligned), -1), axis=1)[:, None,
                                                                                       None])
    mean = amp.mean(axis=0)
    ys, xs = np.nonzero(mean > threshold * mean.max())
    h, w = mean.shape
    return (slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w)))


def prepare(objects, reference: int | None = None, threshold: float = 0.1,
            margin: int = 3, rounds: int = 2, anchor=None) -> Prepared:
    """Align all runs to a common frame, crop the joint support's box, normalise.

    Step 1 of ConvRe. The runs are aligned to run ``reference`` (translation by
    cross-correlation, twin image ``conj(o(-r))``, global phase:
    :func:`cdi_plugins.metrics.align_to`); then ``rounds - 1`` more times to the mean of
    the aligned runs, which removes the bias toward one run. The box is the bounding box
    of the pixels where the mean normalised amplitude exceeds ``threshold`` times its
    maximum, grown by ``margin`` pixels, joined with the same box of the ``anchor`` runs'
    mean; each crop is divided by its norm so that a run's overall scale does not count
    in the clustering.

    When most runs failed, a box made from the mean of all runs follows the failures
    (often a compact streak) and cuts the edge of the few runs that found the object;
    :func:`convre` therefore passes the lowest-chi^2 runs as ``anchor``, so that the
    box holds their object whole.

    Parameters
    ----------
    objects : array_like
        complex ``(n_runs, H, W)`` centred reconstructions of one pattern.
    reference : int, optional
        Run the first round aligns to (default: run 0; :func:`convre` passes the lowest
        chi^2).
    threshold : float
        Relative amplitude that defines the joint support, in (0, 1).
    margin : int
        Pixels added around the joint support's bounding box.
    rounds : int
        Alignment rounds (at least 1).
    anchor : array_like of int, optional
        Indices of runs whose own joint support the box must hold too (default: none).

    Returns
    -------
    Prepared

    Raises
    ------
    ValueError
        See :func:`check_runs`; ``reference`` or ``anchor`` out of range; bad ``threshold``.

    Example
    -------
    >>> import numpy as np
    >>> from cdi_plugins import metrics
    >>> o = np.zeros((32, 32), complex); o[10:20, 12:18] = np.arange(6) + 1
    >>> runs = np.stack([o, 1j * np.roll(o, 3, axis=0), metrics.twin(o)])
    >>> p = prepare(runs); p.crops.shape[0], bool(np.allclose(p.crops, p.crops[0], atol=1e-5))
    (3, True)
    """
    objs = check_runs(objects)
    n = len(objs)
    ref_i = 0 if reference is None else int(reference)
    if not 0 <= ref_i < n:
        raise ValueError(f"reference must be a run index in [0, {n}), got {reference}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if int(rounds) < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    sub = None
    if anchor is not None:
        sub = np.unique(np.asarray(anchor, dtype=int).ravel())
        if sub.size == 0 or sub.min() < 0 or sub.max() >= n:
            raise ValueError(f"anchor must hold run indices in [0, {n}), got "
                             f"{np.asarray(anchor).ravel().tolist()[:8]}")
    ref = objs[ref_i].astype(np.complex128)
    for _ in range(int(rounds)):
        aligned = metrics.align_runs(objs, ref)
        norms = np.linalg.norm(aligned.reshape(n, -1), axis=1)
        ref = (aligned / norms[:, None, None]).mean(axis=0)
    # centre the common frame on its centre of mass so the crop box sits mid-array
    w = np.abs(ref) ** 2
    yy, xx = np.indices(ref.shape)
    com = np.rint([(w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()]).astype(int)
    shift = (ref.shape[0] // 2 - com[0], ref.shape[1] // 2 - com[1])
    aligned = np.roll(aligned, shift, axis=(1, 2))
    ref = np.roll(ref, shift, axis=(0, 1))
    box = _joint_box(aligned, threshold, margin)
    if sub is not None:
        # the union with the anchor runs' box: what most runs share stays in the crops,
        # and so does the whole object of the few runs that found it
        fb = _joint_box(aligned[sub], threshold, margin)
        box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                    for a, b in zip(box, fb, strict=True))
    crops = aligned[(slice(None), *box)].astype(np.complex64)
    crops /= np.linalg.norm(crops.reshape(n, -1), axis=1)[:, None, None]
    return Prepared(aligned=aligned.astype(np.complex64), crops=crops, box=box,
                    reference=(ref / np.linalg.norm(ref)).astype(np.complex64))


def prepare_by_chi2(objects, chi2, anchor_fraction: float = 0.1) -> Prepared:
    """:func:`prepare` as :func:`convre` calls it: aligned first to the lowest-chi^2 run,
    the crop box anchored on the ``ceil(anchor_fraction * n)`` runs of lowest chi^2 (at
    least one). :func:`cdi_plugins.convre.features.make_training_set` prepares its training
    crops the same way, so the network sees what ConvRe gives it.

    Example
    -------
    >>> import numpy as np
    >>> o = np.zeros((32, 32), complex); o[10:20, 12:18] = 1
    >>> p = prepare_by_chi2(np.stack([o, np.roll(o, 2, axis=1)]), [0.2, 0.1]); p.crops.shape
    (2, 16, 12)
    """
    c2 = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
    if not 0 < anchor_fraction <= 1:
        raise ValueError(f"anchor_fraction must be in (0, 1], got {anchor_fraction}")
    k = max(1, int(np.ceil(anchor_fraction * c2.size - 1e-9)))
    anchor = np.argsort(c2, kind="stable")[:k]
    return prepare(objects, reference=int(anchor[0]), anchor=anchor)
