"""Did an alignment improve its input? A check that needs no ground truth.

Two measures of the stack before and after, on the same small MLEM reconstruction:

- **consistency**, ``||p - A x|| / ||p||`` with ``x`` the MLEM reconstruction of ``p``:
  jitter makes projections disagree with any one object, so an aligned stack is fitted
  better;
- **sharpness** of that reconstruction, its gradient energy over its energy
  (``sum |grad x|^2 / sum x^2``): misaligned projections blur the object.

An alignment counts as an improvement when it lowers the misfit by more than
``MARGIN`` (relative) and does not blur the reconstruction by more than ``MARGIN``.
Neither measure is accuracy: a stack can be made more consistent by fitting noise, and
a periodic object is consistent at several shifts. The check catches an alignment that
made things worse or changed nothing that the data can show; it cannot prove one right.
When it fails, the caller returns the input unchanged (the better of the two by these
measures) and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..recon.mlem import mlem_tensor
from ..recon.projectors import Projector
from .shifts import shift_tensor

#: how many times worse than the capture pre-pass's the aligned row profiles may agree
#: before the vertical shifts are taken from the capture instead (:func:`profile_misfit`)
VERTICAL_TOLERANCE = 3.0
#: relative change of misfit (and of sharpness) that counts as a real difference
MARGIN = 0.01
#: MLEM iterations of the reconstructions the measures are taken on
CHECK_ITERS = 10


@dataclass
class Verdict:
    """The outcome of :func:`self_check`: both measures before and after, whether the
    alignment improved the stack, and the sentence that says so."""

    consistency_before: float
    consistency_after: float
    sharpness_before: float
    sharpness_after: float
    improved: bool
    message: str

    def to_record(self) -> dict:
        return asdict(self)


def sharpness(rec) -> float:
    """Gradient energy over energy of a reconstruction ``(nslice, n, n)`` (a tensor or an
    array): in-plane finite differences, and between slices when there are several."""
    x = rec.detach().cpu().numpy() if isinstance(rec, torch.Tensor) else np.asarray(rec)
    x = x.astype(np.float64, copy=False)
    g = np.square(np.diff(x, axis=1)).sum() + np.square(np.diff(x, axis=2)).sum()
    if x.shape[0] > 1:
        g += np.square(np.diff(x, axis=0)).sum()
    return float(g / max(np.square(x).sum(), 1e-30))


def judge(before: tuple[float, float], after: tuple[float, float]) -> Verdict:
    """The verdict from ``(consistency, sharpness)`` of the stack before and after."""
    (cb, sb), (ca, sa) = before, after
    better_fit = ca < cb * (1 - MARGIN)
    not_blurred = sa >= sb * (1 - MARGIN)
    improved = bool(better_fit and not_blurred)
    if improved:
        msg = (f"alignment improved the stack: reprojection misfit {cb:.4f} -> {ca:.4f}, "
               f"sharpness {sb:.4g} -> {sa:.4g}")
    else:
        why = [] if better_fit else [f"the reprojection misfit did not fall by {MARGIN:.0%} "
                                     f"({cb:.4f} -> {ca:.4f})"]
        why += [] if not_blurred else [f"the reconstruction got blurrer (sharpness "
                                       f"{sb:.4g} -> {sa:.4g})"]
        msg = ("alignment could not show that it improved the stack: " + " and ".join(why)
               + "; the input is returned unaligned (shifts 0)")
    return Verdict(cb, ca, sb, sa, improved, msg)


def consistency(current: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative misfit ``||p - A x|| / ||p||`` of a stack and its reprojection."""
    num = torch.linalg.vector_norm((current - ref).float())
    return float(num / torch.linalg.vector_norm(current.float()).clamp(min=1e-30))


def measures(stack: torch.Tensor, projector: Projector) -> tuple[float, float]:
    """``(consistency, sharpness)`` of ``stack`` with ``x`` its MLEM reconstruction
    (``CHECK_ITERS`` iterations) on ``projector`` and ``A x`` its reprojection."""
    rec = mlem_tensor(stack, projector, CHECK_ITERS)
    return consistency(stack, projector.forward(rec)), sharpness(rec)


def profile_misfit(small: torch.Tensor, dx, dy, margin: int) -> float:
    """How far the row profiles of ``small`` shifted by ``(dx, dy)`` (its pixels) lie from
    their median: ``||P - median(P)|| / (sqrt(n) ||median(P)||)`` with ``P[i]`` the sum of
    projection ``i`` over its columns, rows ``margin`` to ``-margin`` only.

    For an object inside the horizontal field of view a projection's row profile is the
    mass of each slice, the same at every angle (the invariant of the capture pre-pass):
    right vertical shifts make the profiles agree. It sees what reprojection consistency
    cannot: a sample whose slices repeat (layers) is consistent with vertical shifts a
    period off, and its row profiles are not.
    """
    moved = shift_tensor(small, -np.asarray(dx, np.float64), -np.asarray(dy, np.float64))
    rows = moved.shape[1]
    prof = moved.sum(2).double().cpu().numpy()[:, margin:rows - margin]
    med = np.median(prof, axis=0)
    scale = np.linalg.norm(med) * np.sqrt(prof.shape[0])
    return float(np.linalg.norm(prof - med) / max(scale, 1e-30))


def self_check(small: torch.Tensor, projector: Projector, factor: int, dx, dy,
               before: tuple[float, float] | None = None) -> Verdict:
    """The verdict on shifts ``(dx, dy)`` (full-size pixels) of a stack, measured on
    ``small``, that stack binned by ``factor``, with ``projector`` (its geometry): the
    :func:`measures` before and after the shifts, judged by :func:`judge`. ``before``:
    the measures of ``small`` already taken.

    Example
    -------
    >>> import numpy as np, torch, tomopy_dlalign as tda
    >>> from tomopy_dlalign.recon import make_projector
    >>> th = np.linspace(0, np.pi, 60, endpoint=False)
    >>> prj, dx, dy = tda.add_jitter(tda.reproject(tda.simulate.phantom(
    ...     "nanoparticles", 48, 32, seed=0), th), -4, 4, seed=0)
    >>> self_check(torch.from_numpy(prj), make_projector(th, 48, 24.0), 1, dx, dy).improved
    True
    """
    dx, dy = np.asarray(dx, np.float64), np.asarray(dy, np.float64)
    before = before if before is not None else measures(small, projector)
    after = measures(shift_tensor(small, -dx / factor, -dy / factor), projector)
    return judge(before, after)


def summary(verdict: Verdict | None) -> str:
    """One word for tables: ``improved``, ``NOT improved`` or ``unchecked``."""
    if verdict is None:
        return "unchecked"
    return "improved" if verdict.improved else "NOT improved"


__all__ = ["CHECK_ITERS", "MARGIN", "VERTICAL_TOLERANCE", "Verdict", "consistency", "judge",
           "measures", "profile_misfit",
           "self_check", "sharpness", "summary"]

