"""Jitter correction: JitterNet on (projection, reprojection) pairs, and two baselines.

The cycle of Fu et al. (2021): reconstruct the stack with a few MLEM iterations,
reproject the reconstruction, estimate each projection's jitter from its pair, shift
the projections back. :func:`align` runs it with the network; :func:`align_pc` with
phase correlation (one step of tomographic consistency), and
:func:`align_reprojection` is the iterative reprojection alignment of TomoPy's
``align_joint`` (Gursoy et al. 2017), all on the same projector.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..common.device import resolve_device
from ..common.impulsive import despeckle
from ..common.progress import progress
from ..common.validation import as_array, as_theta
from ..models.jitternet import JitterNet, load_model, predict
from ..recon.center import find_center, inside_field_of_view, resolve_center
from ..recon.mlem import mlem_tensor
from ..recon.projectors import Projector, make_projector
from .capture import mass_prepass
from .conditioning import registration_view
from .registration import phase_correlation
from .selfcheck import (
    VERTICAL_TOLERANCE,
    Verdict,
    consistency,
    measures,
    profile_misfit,
    self_check,
)
from .shifts import shift, shift_tensor

logger = logging.getLogger(__name__)

#: MLEM iterations of the reconstruct-reproject step, at run time and in training data
MLEM_ITERS = 10
#: MLEM iterations per round of the full-resolution polish (the stack is nearly aligned)
POLISH_ITERS = 5
#: rounds of the polish, the reconstruction carried over (more for thin slabs, whose
#: coarse step is a classic reprojection alignment rather than the network)
POLISH_ROUNDS = 2
#: with ``polish=True`` the rounds go on, up to this many, while a round still moves the
#: shifts by more than POLISH_TOL px RMS (measured scans converge more slowly than clean
#: phantoms, which mostly stop at POLISH_ROUNDS)
POLISH_ROUNDS_MAX = 6
POLISH_TOL = 0.05
POLISH_ROUNDS_THIN = 4
#: largest image side the polish works at (larger stacks are binned for it)
POLISH_SIZE = 512
#: columns a thin slab is binned to (at least) for its coarse iterative alignment
THIN_COLUMNS = 128
#: reprojection cycles of the coarse alignment of a thin slab, per requested ``iters``
THIN_CYCLES = 30
#: MLEM iterations per polish round of a thin slab (cheap with few rows; fewer leave a
#: reference blurred enough to undo the coarse alignment's precision)
POLISH_ITERS_THIN = 20
#: RMS update (network pixels) below which the network's cycles have converged: further
#: cycles would only add the network's own noise, which the polish removes better
CONVERGED = 0.25
#: a polish correction up to this many pixels is trusted as a sub-pixel refinement; a
#: larger one must show that it improves its projection's fit (misfit times POLISH_GAIN)
POLISH_TRUST = 2.0
POLISH_GAIN = 0.8


@dataclass
class AlignInfo:
    """Diagnostics of an alignment: shifts after each cycle and the time taken."""

    history: list = field(default_factory=list)   # [(dx, dy), ...] cumulative per cycle
    times: list = field(default_factory=list)     # seconds from the start to each entry
    seconds: float = 0.0
    center: float | None = None                   # the rotation axis used, in pixels
    #: with center="auto": the axis estimates on the corrected stack (mass, mirror, the
    #: one in use), which was chosen, and their spread in pixels (how sure the axis is)
    center_estimates: dict = field(default_factory=dict)
    center_spread: float | None = None
    capture: bool = False                         # the capture pre-pass was kept
    conditioning: dict = field(default_factory=dict)  # what registration_view did
    verdict: Verdict | None = None                # the self-check (None: not run)
    warning: str | None = None                    # set when the self-check failed
    #: the row-profile check of the vertical shifts: the misfits compared, the choice
    vertical: dict = field(default_factory=dict)

    def to_record(self) -> dict:
        """What the alignment decided and found, JSON-able, for a file's ``/process``
        step: the axis used and how sure it is, the capture, what registration saw, the
        self-check and its warning."""
        return {"center": self.center, "center_estimates": self.center_estimates or None,
                "center_spread": self.center_spread, "capture": bool(self.capture),
                "conditioning": self.conditioning or None,
                "self_check": None if self.verdict is None else self.verdict.to_record(),
                "vertical_check": self.vertical or None, "warning": self.warning}

    def record(self, dx: np.ndarray, dy: np.ndarray, t0: float) -> None:
        self.history.append((dx.copy(), dy.copy()))
        self.times.append(time.perf_counter() - t0)


def check_inputs(prj, theta, center):
    """Validate ``(prj, theta, center)`` once, as every aligner's public boundary does;
    ``center="auto"`` is resolved here."""
    arr, th = _check_stack(prj, theta)
    return arr, th, resolve_center(center, arr, th)


def _check_stack(prj, theta):
    arr = as_array(prj, "prj", ndim=3)
    return arr, as_theta(theta, arr.shape[0])


def reproject_cycle(prj, theta: np.ndarray, center: float, projector: Projector,
                    num_iter: int = MLEM_ITERS):
    """MLEM of ``prj`` followed by its reprojection: the reference each projection is
    registered against. Training data are made with this same function. A tensor in
    gives a tensor on the projector's device out; an array gives an array."""
    y = torch.as_tensor(prj)
    ref = projector.forward(mlem_tensor(y, projector, num_iter))
    return ref if isinstance(prj, torch.Tensor) else ref.cpu().numpy()


def downsample(prj: torch.Tensor, factor: int) -> torch.Tensor:
    """Bin each projection by ``factor`` (sum over the bin's columns, mean over rows
    and columns times ``factor``: line integrals keep their scale)."""
    if factor == 1:
        return prj
    return F.avg_pool2d(prj[:, None], factor, ceil_mode=False)[:, 0] * factor


def network_factor(shape: tuple[int, ...], size: int) -> int:
    """Binning (a power of 2) that brings the projections close to the network's size:
    the larger side down to about ``size``, the smaller side not below ``size / 2``."""
    factor = 1
    while (max(shape[1], shape[2]) // (2 * factor) >= size
           and min(shape[1], shape[2]) // (2 * factor) >= size // 2):
        factor *= 2
    return factor


def align(prj, theta, center: float | str | None = "auto", model: JitterNet | str | None = None,
          iters: int = 1, polish: bool | int = True, polish_size: int = POLISH_SIZE,
          device: str = "auto", backend: str = "auto", batch_size: int = 64,
          info: AlignInfo | None = None, show_progress: bool | None = None,
          capture: bool = True, check: bool = True):
    """Estimate and remove the jitter of each projection with JitterNet.

    Parameters
    ----------
    prj : ndarray (nproj, nslice, ncol)
        Line integrals (after ``normalize`` and ``minus_log``).
    theta : ndarray (nproj,)
        Angles in radians.
    center : float, "auto" or None
        Rotation axis in pixels; ``"auto"`` finds it with
        :func:`~tomopy_dlalign.recon.find_center` and finds it again once the network
        has removed most of the jitter (``info.center_estimates``, ``center_spread``);
        ``None`` means ``ncol / 2``.
    model : JitterNet or path, optional
        ``None`` loads the weights that ship with the package (offline).
    iters : int
        Reconstruct-reproject-predict cycles, at most; each one starts from the stack
        corrected by the previous ones (the network as the fast first step of a
        reprojection scheme). The cycles stop once an update moves the shifts by less
        than ``CONVERGED`` network pixels (RMS), or when a cycle raises the reprojection
        error (the most consistent shifts are kept). Each further cycle also adds a round
        to the polish.
    polish : bool or int
        Finish with sub-pixel phase-correlation rounds against the reprojection of the
        corrected stack, at full resolution: ``True`` for two rounds (four for a thin
        slab), more while a round still moves the shifts by more than ``POLISH_TOL`` px
        (up to ``POLISH_ROUNDS_MAX + iters - 1``); an integer for exactly that many,
        ``False`` or 0 for none.
    polish_size : int
        Largest image side the polish works at: bigger stacks are binned by powers of two
        to at most this size for it (a full-resolution MLEM of 181 x 1024^2 takes many
        minutes on a CPU); its shifts are still sub-pixel at that binning.
    device, backend : str
        Torch device and projector backend.
    info : AlignInfo, optional
        Filled with the cumulative shifts after each cycle, the time, the rotation axis
        used (``info.center``) and its estimates, what the registration view took out,
        the self-check's verdict and its warning (``info.to_record()`` for a file).
    capture : bool
        Start the network's cycles from the capture pre-pass (:mod:`.capture`), when
        it makes the stack more consistent.
    check : bool
        Run the self-check (:mod:`.selfcheck`): when the alignment cannot show that it
        improved the stack, warn and return the input unaligned (shifts 0).

    Returns
    -------
    aligned : ndarray (nproj, nslice, ncol), float32
        ``prj`` with the jitter removed (``shift(prj, -dx, -dy)``).
    dx, dy : ndarray (nproj,)
        The estimated jitter, in the sense of :func:`tomopy_dlalign.add_jitter`: shifts
        close to the ones it drew. A common vertical offset cannot be seen by
        reprojection (it moves the whole object), so ``dy`` has zero mean; ``dx`` is
        measured against the rotation axis ``center``.

    Notes
    -----
    Registration sees a conditioned copy of ``prj`` (:mod:`.conditioning`: values beyond
    the robust range, isolated outliers, impulsive noise, detector stripes and bands);
    the shifts apply to ``prj`` itself. Pixels a shift pulls in from outside the frame
    are replaced by the reference before reconstruction and registration.
    Stacks larger than the network are binned by powers of two to about its size for
    the MLEM, the reprojection and the network (shifts are scaled back), and the polish
    recovers full-resolution precision. Slabs with fewer rows (or columns) than half
    the network's input, down to a single detector row, are aligned horizontally only,
    by iterative reprojection on the row sums, and ``dy`` is 0 (a warning says so).
    Each pair is normalised on its own, so a projection's estimate does not depend on
    the rest of the batch.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False)
    >>> prj = tda.reproject(tda.simulate.phantom("nanoparticles", 64, 32, seed=1), theta)
    >>> aligned, dx, dy = tda.align(prj, theta)
    >>> aligned.shape, dx.shape
    ((60, 32, 64), (60,))
    """
    auto = isinstance(center, str) and center == "auto"
    arr, th = _check_stack(prj, theta)
    # the axis search and registration see the same median-filtered stack, filtered once
    clean = despeckle(arr)
    c = resolve_center(center, clean, th)
    iters = check_iters(iters)
    _check_polish(polish, polish_size)
    info = AlignInfo() if info is None else info
    net = model if isinstance(model, JitterNet) else load_model(model)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    view_np, info.conditioning = registration_view(clean, impulsive=clean is not arr)
    stack = torch.from_numpy(np.ascontiguousarray(arr)).to(dev)
    view = torch.from_numpy(view_np).to(dev)
    size = net.config.size
    thin = min(arr.shape[1:]) < size // 2
    info.center = c
    if thin:
        logger.warning("prj images of %d x %d pixels are smaller than the network's %d x %d: "
                       "aligning the horizontal axis only, by iterative reprojection "
                       "(dy = 0)", arr.shape[1], arr.shape[2], size // 2, size // 2)
        coarse = _rows_only(view, th, c, iters, backend, info, show_progress, t0)
    else:
        coarse = _network(view, th, c, net, iters, auto, capture, backend, batch_size, info,
                          show_progress, t0)
    dx, dy = _polished(view, th, coarse, thin, polish, iters, polish_size, backend, info,
                       t0)
    if check:
        dx, dy = _self_check(coarse, dx, dy, info)
        plain = stack if clean is arr else torch.from_numpy(clean).to(dev)
        dy = _vertical_check(downsample(plain, coarse.factor), th, coarse, dx, dy, info)
    info.seconds = time.perf_counter() - t0
    return shift_tensor(stack, -dx, -dy).cpu().numpy(), dx, dy


def _check_polish(polish, polish_size) -> None:
    if not isinstance(polish, (bool, int, np.integer)) or polish < 0:
        raise ValueError(f"polish must be True, False or a number of rounds >= 0, "
                         f"got {polish!r}")
    if not isinstance(polish_size, (int, np.integer)) or polish_size < 16:
        raise ValueError(f"polish_size must be an integer >= 16, got {polish_size!r}")


def _polished(view, th, coarse, thin, polish, iters, polish_size, backend, info, t0):
    """The coarse shifts refined by :func:`_polish` on ``view`` binned to at most
    ``polish_size`` (columns only for a thin slab); ``polish`` as :func:`align` takes it."""
    dx, dy, c = coarse.dx, coarse.dy, info.center
    base = POLISH_ROUNDS_THIN if thin else POLISH_ROUNDS
    rounds = (base + iters - 1) if polish is True else int(polish)
    if not rounds:
        return dx, dy
    pf = 1
    while max(view.shape[1:]) // pf > polish_size:
        pf *= 2
    full = bin_columns(view, pf) if thin else downsample(view, pf)
    sx, sy = _polish(full, th, c / pf, dx / pf, dy / pf, backend, rounds=rounds,
                     num_iter=POLISH_ITERS_THIN if thin else POLISH_ITERS,
                     rows_only=thin, smooth=info.conditioning["impulsive"],
                     until=POLISH_ROUNDS_MAX + iters - 1 if polish is True else None)
    dx, dy = sx * pf, sy * pf
    info.record(dx, dy, t0)
    return dx, dy


@dataclass
class _Coarse:
    """The coarse step's shifts (full-size pixels) and the small stack, its projector and
    binning, on which the self-check measures the stack before and after."""

    dx: np.ndarray
    dy: np.ndarray
    small: torch.Tensor
    A: Projector
    factor: int
    before: tuple | None = None     # the self-check's measures of the unshifted stack


def _network(view, th, c, net, iters, auto, capture, backend, batch_size, info, show_progress,
             t0):
    """The network's cycles on the stack binned to its size: the capture pre-pass, up to
    ``iters`` cycles, and with ``center="auto"`` the axis found again on the corrected
    stack (then the cycles run once more on the new axis)."""
    factor = network_factor(tuple(view.shape), net.config.size)
    small = downsample(view, factor)
    A = make_projector(th, small.shape[2], c / factor, backend=backend, device=view.device)
    before = measures(small, A)
    init, first_ref = _capture(small, th, A, factor, before[0], info) if capture else (None,
                                                                                       None)

    def register(current, ref):
        return predict(net, current, ref, batch_size=batch_size, device=view.device)

    def cycles(A, init, first_ref=None):
        return _iterate(small, iters, lambda cur: reproject_cycle(cur, th, A.center, A),
                        register, "align", info, show_progress, t0, scale=factor,
                        stop_early=True, init=init, tol=CONVERGED, first_ref=first_ref)

    dx, dy = cycles(A, init, first_ref)
    if auto:
        cs = _recentre(small, th, A, factor, dx, dy, backend, info)
        if abs(cs - A.center) * factor > 0.25:
            info.center = cs * factor
            A = make_projector(th, small.shape[2], cs, backend=backend, device=view.device)
            dx, dy = cycles(A, (dx, dy))
            before = None   # measured on the old axis: the self-check measures it again
    return _Coarse(dx, dy, small, A, factor, before)


def _capture(small, th, A, factor, plain, info):
    """The capture pre-pass (:func:`.capture.mass_prepass`) on the small stack, kept when
    it makes the stack more consistent than no correction (``plain``, the misfit of the
    unshifted stack). Returns its shifts (full-size pixels) and the reference of the
    stack they correct, which the first cycle reuses, or ``(None, None)``."""
    c = A.center
    inside = inside_field_of_view(small.sum(1).double().cpu().numpy())
    ex, ey = mass_prepass(small.cpu().numpy(), th, c, inside)
    info.capture = False
    if not (np.abs(ex).max() > 0.5 or np.abs(ey).max() > 0.5):
        return None, None
    moved = shift_tensor(small, -ex, -ey)
    ref = reproject_cycle(moved, th, c, A)
    info.capture = consistency(moved, ref) < plain
    logger.debug("capture pre-pass %s (RMS %.2f px)", "kept" if info.capture else "dropped",
                 float(np.sqrt(np.mean(ex ** 2 + ey ** 2))) * factor)
    return ((ex * factor, ey * factor), ref) if info.capture else (None, None)


def _recentre(small, th, A, factor, dx, dy, backend, info) -> float:
    """The rotation axis again, on the stack with the coarse shifts removed: the mirror
    and centre-of-mass estimates and the axis in use, scored by the consistency of the
    stack with its reprojection on each; returns the most consistent (small pixels).
    The estimates (full-size pixels) and their spread are kept in ``info``."""
    corrected = shift_tensor(small, -dx / factor, -dy / factor)
    arr = corrected.cpu().numpy()
    cands = {"in use": float(A.center)}
    for method in ("mass", "mirror"):
        try:
            cands[method] = find_center(arr, th, method=method)
        except ValueError:
            continue
    scores = {}
    for name, cc in cands.items():
        B = A if name == "in use" else make_projector(th, arr.shape[2], cc, backend=backend,
                                                      device=small.device)
        scores[name] = consistency(corrected, reproject_cycle(corrected, th, cc, B))
    best = min(scores, key=scores.get)
    info.center_estimates = {k: v * factor for k, v in cands.items()}
    info.center_estimates["chosen"] = best
    info.center_spread = (max(cands.values()) - min(cands.values())) * factor
    if info.center_spread > 2.0:
        logger.warning("rotation axis: the estimates disagree by %.1f px (%s); the most "
                       "consistent, %.2f px (%s), is used. Give center= if you know it.",
                       info.center_spread,
                       ", ".join(f"{k} {v * factor:.2f}" for k, v in cands.items()),
                       cands[best] * factor, best)
    return cands[best]


def _self_check(coarse, dx, dy, info):
    """The self-check (:func:`.selfcheck.self_check`) on the coarse step's small stack;
    when the alignment cannot show an improvement, warn and return zero shifts."""
    info.verdict = self_check(coarse.small, coarse.A, coarse.factor, dx, dy,
                              before=coarse.before)
    if info.verdict.improved:
        logger.info(info.verdict.message)
        return dx, dy
    info.warning = info.verdict.message
    logger.warning(info.verdict.message)
    return np.zeros_like(dx), np.zeros_like(dy)


def _vertical_check(small, th, coarse, dx, dy, info):
    """The vertical shifts checked against the row-mass invariant
    (:func:`.selfcheck.profile_misfit`) on ``small``, the stack as measured (median
    filtered when impulsive) and binned as the coarse step's: not the registration view,
    whose corrections are made in detector coordinates. For an object inside the
    horizontal field of view the capture pre-pass (:func:`.capture.mass_prepass`) is
    run on it; when the aligned row profiles agree ``VERTICAL_TOLERANCE`` times worse
    than the capture's, its ``dy`` replaces the aligned one, with a warning: layers a
    period apart fit the reprojection as well as the right shifts."""
    f = coarse.factor
    arr = small.cpu().numpy()
    if not dy.any() or not inside_field_of_view(arr.sum(1).astype(np.float64)):
        return dy
    _, cy = mass_prepass(arr, th, coarse.A.center, inside=False)
    cy = cy * f
    spread = np.percentile(np.abs(np.concatenate([dy, cy])), 90)
    margin = min(int(np.ceil(spread / f)) + 1, small.shape[1] // 3)
    aligned = profile_misfit(small, dx / f, dy / f, margin)
    capture = profile_misfit(small, dx / f, cy / f, margin)
    keep = aligned <= VERTICAL_TOLERANCE * capture
    info.vertical = {"aligned": aligned, "capture": capture,
                     "chosen": "aligned" if keep else "capture"}
    if keep:
        return dy
    msg = (f"vertical shifts: the row profiles of the aligned stack disagree {aligned:.3g}, "
           f"{aligned / capture:.1f} times more than with the shifts of the slice-mass "
           f"capture ({capture:.3g}); a sample whose slices repeat can fit the "
           f"reprojection a period off: dy taken from the capture (about a pixel)")
    info.warning = msg if info.warning is None else f"{info.warning}; {msg}"
    logger.warning(msg)
    return cy


def reprojection_error(aligned, theta, center: float, num_iter: int = MLEM_ITERS) -> float:
    """How far an aligned stack is from the projections of its own reconstruction:
    ``||p - A mlem(p)|| / ||p||`` after a 5 x 5 median (salt-and-pepper noise only) and a
    1.5 px Gaussian blur of both sides, so that noise weighs less than misalignment.
    Needs no ground truth: of two alignments of one scan, the lower is the more
    consistent."""
    from scipy.ndimage import gaussian_filter

    arr = despeckle(np.asarray(aligned, np.float32))
    A = make_projector(theta, arr.shape[2], center)
    ref = reproject_cycle(arr, theta, center, A, num_iter=num_iter)
    blur = (0, 1.5, 1.5)
    return consistency(torch.from_numpy(gaussian_filter(arr, blur)),
                       torch.from_numpy(gaussian_filter(ref, blur)))


def bin_columns(prj: torch.Tensor, factor: int) -> torch.Tensor:
    """Bin each projection by ``factor`` along columns only (thin slabs keep their rows)."""
    if factor == 1:
        return prj
    return F.avg_pool2d(prj[:, None], (1, factor), ceil_mode=False)[:, 0] * factor




def _rows_only(stack, th, c, iters, backend, info, show_progress, t0):
    """Horizontal jitter of a slab too thin for the network: iterative reprojection
    alignment (the reconstruction carried between cycles) on the stack binned along
    columns, registering row sums, with ``dy`` held at 0."""
    factor = 1
    while stack.shape[2] // (2 * factor) >= THIN_COLUMNS:
        factor *= 2
    small = bin_columns(stack, factor)
    A = make_projector(th, small.shape[2], c / factor, backend=backend, device=stack.device)
    state = {"rec": None}

    def reference(current):
        first = state["rec"] is None
        state["rec"] = mlem_tensor(current, A, MLEM_ITERS if first else 2, init=state["rec"])
        return A.forward(state["rec"])

    def register(current, ref):
        ex, _ = phase_correlation(current.sum(1, keepdim=True).cpu().numpy(),
                                  ref.sum(1, keepdim=True).cpu().numpy())
        return ex, np.zeros_like(ex)

    dx, dy = _iterate(small, THIN_CYCLES * iters, reference, register, "align (rows only)",
                      info, show_progress, t0, scale=factor)
    return _Coarse(dx, dy, small, A, factor)


def _polish(stack, th, c, dx, dy, backend, rounds=POLISH_ROUNDS, num_iter=POLISH_ITERS,
            rows_only=False, smooth=False, until: int | None = None):
    """Sub-pixel refinement at full resolution: register the corrected stack against the
    reprojection of its own MLEM reconstruction, ``rounds`` times, the reconstruction
    carried from one round to the next. ``stack`` is the registration view (noise and
    detector content already taken out, :mod:`.conditioning`). The pixels that a shift
    pulls in from outside the frame are replaced by the reference, in what the MLEM and
    the registration see: an edge fill is not data, and left in, it drags each shift
    toward zero (a vertical under-correction that grew with iterations on thin slabs).
    With ``until``, rounds go on past ``rounds`` (up to ``until``) while the last one
    moved the shifts by more than ``POLISH_TOL`` px RMS.
    With ``rows_only`` only ``dx`` is refined; ``smooth`` blurs both sides by 1 px
    before the registration (for stacks that carried salt-and-pepper noise).
    """
    from scipy.ndimage import gaussian_filter

    A = make_projector(th, stack.shape[2], c, backend=backend, device=stack.device)
    rec = ref = None
    step = np.inf
    for k in range(max(rounds, until or 0)):
        if k >= rounds and step < POLISH_TOL:
            break
        corrected, fill = _shifted(stack, dx, dy, 1, ref)
        rec = mlem_tensor(corrected, A, num_iter, init=rec)
        ref = A.forward(rec)
        cur, rp = _filled(corrected, fill, ref).cpu().numpy(), ref.cpu().numpy()
        if smooth:  # what a median leaves of strong impulsive noise
            cur, rp = gaussian_filter(cur, (0, 1, 1)), gaussian_filter(rp, (0, 1, 1))
        if rows_only:  # too few rows to see vertical shifts: register the row sums
            cur, rp = cur.sum(1, keepdims=True), rp.sum(1, keepdims=True)
        ex, ey = phase_correlation(cur, rp, denoise=False)
        ey = np.zeros_like(ey) if rows_only else ey
        ok = _accepted(cur, rp, ex, ey)
        new_dx = dx + np.where(ok, ex, 0)
        new_dy = dy + np.where(ok, ey, 0)
        new_dy = new_dy - new_dy.mean()
        step = float(np.sqrt(np.mean((new_dx - dx) ** 2 + (new_dy - dy) ** 2)))
        dx, dy = new_dx, new_dy
    return dx, dy


def _accepted(cur: np.ndarray, rp: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    """Which of a polish round's corrections to keep. Below ``POLISH_TRUST`` px they are
    phase correlation's sub-pixel refinement and kept. A larger one is a projection the
    coarse step left off by a few pixels (an angle the network mistook at a large shift,
    a frame with a corrupted segment) or a failed registration; it is kept only when it
    makes that projection fit its reference better, away from the edges the correction
    would move in, and when it is under a quarter of the image's smaller side."""
    size = np.hypot(ex, ey)
    ok = size < POLISH_TRUST
    big = np.flatnonzero(~ok & (size < min(cur.shape[1:]) / 4))
    if not big.size:
        return ok
    moved = shift(cur[big], -ex[big], -ey[big])
    for k, i in enumerate(big):
        m = int(np.ceil(size[i])) + 1
        inner = (slice(m, -m), slice(m, -m))
        ok[i] = (np.mean((moved[k] - rp[i])[inner] ** 2)
                 < POLISH_GAIN * np.mean((cur[i] - rp[i])[inner] ** 2))
    return ok


def fill_mask(shape, dx, dy, device) -> torch.Tensor:
    """Where ``shift(stack, -dx, -dy)`` (``shape`` = (n, h, w)) holds content pulled in
    from outside the frame (the edge fill), as a boolean tensor."""
    n, h, w = shape
    cols = torch.arange(w, device=device, dtype=torch.float64)[None, None, :]
    rows = torch.arange(h, device=device, dtype=torch.float64)[None, :, None]
    sx = torch.as_tensor(np.asarray(dx, np.float64), device=device)[:, None, None]
    sy = torch.as_tensor(np.asarray(dy, np.float64), device=device)[:, None, None]
    return (((cols + sx) < 0) | ((cols + sx) > w - 1)
            | ((rows + sy) < 0) | ((rows + sy) > h - 1))


def _iterate(stack, iters, reference, register, desc, info, show_progress, t0,
             scale: int = 1, stop_early: bool = False, init=None, tol: float = 0.0,
             first_ref=None):
    """Shift ``stack`` (a tensor) by the shifts found so far, make its reference with
    ``reference(current)``, estimate the residual jitter with ``register(current, ref)``,
    accumulate, up to ``iters`` times. Shifts are returned in pixels of the full-size
    stack (``scale`` times those of ``stack``); the common vertical offset is removed,
    since reprojection cannot see it. ``init`` (full-size ``(dx, dy)``) starts the cycles
    from earlier shifts; they stop once an update's RMS is below ``tol`` (pixels of
    ``stack``); ``first_ref`` is the reference of the stack corrected by ``init`` when the
    caller has it already. Pixels pulled in from outside the frame by the shifts are
    replaced by the previous reference before the reconstruction and by the current one
    before the registration (see :func:`_polish`).

    The reprojection error of each stack against its reference (:func:`consistency`)
    scores the shifts of the previous cycle; with ``iters > 1`` the last shifts are scored
    too (a reference, no registration), and the most consistent shifts after the first
    cycle are returned, so that more cycles never end less consistent than one. With
    ``stop_early`` the cycles stop as soon as one raises the error.
    """
    n = stack.shape[0]
    dx, dy = (np.zeros(n), np.zeros(n)) if init is None else (init[0].copy(), init[1].copy())
    best = None  # (error, dx, dy) of the most consistent shifts scored so far
    ref = None
    for k in progress(range(iters), desc, show_progress):
        current, fill = _shifted(stack, dx, dy, scale, ref)
        ref = first_ref if k == 0 and first_ref is not None else reference(current)
        current = _filled(current, fill, ref)
        err = consistency(current, ref)
        if k > 0:
            if best is not None and err >= best[0] and stop_early:
                logger.debug("%s: cycle %d raised the reprojection error (%.5f >= %.5f), "
                             "stopping", desc, k, err, best[0])
                break
            best = _better(best, err, dx, dy)
        ex, ey = register(current, ref)
        dx = dx + ex * scale
        dy = dy + ey * scale
        dy -= dy.mean()
        if info is not None:
            info.record(dx, dy, t0)
        if float(np.sqrt(np.mean(ex ** 2 + ey ** 2))) < tol:
            logger.debug("%s: converged after cycle %d", desc, k)
            break
    else:
        if iters > 1:
            current, _ = _shifted(stack, dx, dy, scale, ref)
            best = _better(best, consistency(current, reference(current)), dx, dy)
    if best is not None and not (np.array_equal(best[1], dx) and np.array_equal(best[2], dy)):
        logger.debug("%s: keeping the most consistent shifts (error %.5f)", desc, best[0])
        dx, dy = best[1], best[2]
        if info is not None:
            info.record(dx, dy, t0)
    return dx, dy


def _shifted(stack, dx, dy, scale, ref=None):
    """``stack`` with the shifts found so far (in full-size pixels) removed, and where it
    holds edge fill (None when nothing was shifted); with ``ref`` (the reference of an
    earlier round), the fill is taken from it: what a shift pulls in from outside the
    frame is unknown."""
    if not (dx.any() or dy.any()):
        return stack, None
    sx, sy = dx / scale, dy / scale
    out = shift_tensor(stack, -sx, -sy)
    fill = fill_mask(out.shape, sx, sy, out.device)
    return _filled(out, fill, ref), fill


def _filled(stack, fill, ref):
    """``stack`` with its edge fill ``fill`` (None: none) replaced by ``ref`` (None: kept):
    the fill carries no information on the shift and must not pull the registration."""
    return stack if fill is None or ref is None else torch.where(fill, ref, stack)


def _better(best, err, dx, dy):
    """The more consistent of ``best`` and ``(err, dx, dy)``; ties keep the earlier."""
    if best is None or err < best[0]:
        return (float(err), dx.copy(), dy.copy())
    return best


def check_iters(iters) -> int:
    """``iters`` as a positive int, or a ValueError that names it."""
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 1:
        raise ValueError(f"iters must be a positive integer, got {iters!r}")
    return int(iters)


def _baseline(arr, th, c, iters, reference, desc, backend, device, info, show_progress):
    """Register the current stack against ``reference(current, A)``: both baselines."""
    t0 = time.perf_counter()
    if info is not None:
        info.center = c
    dev = resolve_device(device)
    stack = torch.from_numpy(np.ascontiguousarray(arr)).to(dev)
    A = make_projector(th, arr.shape[2], c, backend=backend, device=dev)

    def register(current, ref):
        return phase_correlation(current.cpu().numpy(), ref.cpu().numpy())

    dx, dy = _iterate(stack, iters, lambda cur: reference(cur, A), register, desc, info,
                      show_progress, t0)
    if info is not None:
        info.seconds = time.perf_counter() - t0
    return shift_tensor(stack, -dx, -dy).cpu().numpy(), dx, dy


def align_pc(prj, theta, center: float | str | None = "auto", iters: int = 1, device: str = "auto",
             backend: str = "auto", info: AlignInfo | None = None,
             show_progress: bool | None = None):
    """Baseline: phase correlation of each projection against the reprojection of a
    fresh MLEM reconstruction, repeated ``iters`` times. Returns ``(aligned, dx, dy)``
    in the same senses as :func:`align`; with ``iters > 1`` the most consistent shifts
    after the first cycle are kept."""
    arr, th, c = check_inputs(prj, theta, center)
    iters = check_iters(iters)
    return _baseline(arr, th, c, iters, lambda cur, A: reproject_cycle(cur, th, c, A),
                     "phase correlation", backend, device, info, show_progress)


def align_reprojection(prj, theta, center: float | str | None = "auto", iters: int = 5,
                       recon_iters: int = 2, device: str = "auto", backend: str = "auto",
                       info: AlignInfo | None = None, show_progress: bool | None = None):
    """Baseline: the joint iterative reprojection alignment of TomoPy's ``align_joint``.

    The reconstruction is carried over between cycles (``recon_iters`` MLEM iterations
    per cycle, continuing from the last volume), each projection is registered against
    its reprojection by phase correlation and shifted, ``iters`` times. Returns
    ``(aligned, dx, dy)`` in the same senses as :func:`align`; the most consistent
    shifts after the first cycle are kept.
    """
    arr, th, c = check_inputs(prj, theta, center)
    iters = check_iters(iters)
    state = {"rec": None}

    def reference(current, A):
        first = state["rec"] is None
        state["rec"] = mlem_tensor(current, A, MLEM_ITERS if first else recon_iters,
                                   init=state["rec"])
        return A.forward(state["rec"])

    return _baseline(arr, th, c, iters, reference, "reprojection alignment", backend, device,
                     info, show_progress)
