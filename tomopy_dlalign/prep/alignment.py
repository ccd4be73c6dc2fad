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
from ..common.progress import progress
from ..common.validation import as_array, as_theta
from ..models.jitternet import JitterNet, load_model, predict
from ..recon.center import resolve_center
from ..recon.mlem import mlem_tensor
from ..recon.projectors import Projector, make_projector
from .registration import is_impulsive, phase_correlation
from .shifts import shift_tensor

logger = logging.getLogger(__name__)

#: MLEM iterations of the reconstruct-reproject step, at run time and in training data
MLEM_ITERS = 10
#: MLEM iterations per round of the full-resolution polish (the stack is nearly aligned)
POLISH_ITERS = 5
#: rounds of the polish, the reconstruction carried over (more for thin slabs, whose
#: coarse step is a classic reprojection alignment rather than the network)
POLISH_ROUNDS = 2
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


@dataclass
class AlignInfo:
    """Diagnostics of an alignment: shifts after each cycle and the time taken."""

    history: list = field(default_factory=list)   # [(dx, dy), ...] cumulative per cycle
    times: list = field(default_factory=list)     # seconds from the start to each entry
    seconds: float = 0.0
    center: float | None = None                   # the rotation axis used, in pixels

    def record(self, dx: np.ndarray, dy: np.ndarray, t0: float) -> None:
        self.history.append((dx.copy(), dy.copy()))
        self.times.append(time.perf_counter() - t0)


def check_inputs(prj, theta, center):
    """Validate ``(prj, theta, center)`` once, as every aligner's public boundary does;
    ``center="auto"`` is resolved here."""
    arr = as_array(prj, "prj", ndim=3)
    th = as_theta(theta, arr.shape[0])
    return arr, th, resolve_center(center, arr, th)


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
          info: AlignInfo | None = None, show_progress: bool | None = None):
    """Estimate and remove the jitter of each projection with JitterNet.

    Parameters
    ----------
    prj : ndarray (nproj, nslice, ncol)
        Line integrals (after ``normalize`` and ``minus_log``).
    theta : ndarray (nproj,)
        Angles in radians.
    center : float, "auto" or None
        Rotation axis in pixels; ``"auto"`` finds it with
        :func:`~tomopy_dlalign.recon.find_center`; ``None`` means ``ncol / 2``.
    model : JitterNet or path, optional
        ``None`` loads the weights that ship with the package (offline).
    iters : int
        Reconstruct-reproject-predict cycles, at most; each one starts from the stack
        corrected by the previous ones (the network as the fast first step of a
        reprojection scheme). Each cycle scores the shifts of the one before by the
        reprojection error of the corrected stack; the cycles stop when one raises it,
        and the most consistent shifts are kept, so more cycles never end less
        consistent than one.
    polish : bool or int
        Finish with sub-pixel phase-correlation rounds against the reprojection of the
        corrected stack, at full resolution: ``True`` for two rounds (four for a thin
        slab), an integer for that many, ``False`` or 0 for none.
    polish_size : int
        Largest image side the polish works at: bigger stacks are binned by powers of two
        to at most this size for it (a full-resolution MLEM of 181 x 1024^2 takes many
        minutes on a CPU); its shifts are still sub-pixel at that binning.
    device, backend : str
        Torch device and projector backend.
    info : AlignInfo, optional
        Filled with the cumulative shifts after each cycle, the time and the rotation
        axis used (``info.center``).

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
    arr, th, c = check_inputs(prj, theta, center)
    iters = check_iters(iters)
    if not isinstance(polish, (bool, int, np.integer)) or polish < 0:
        raise ValueError(f"polish must be True, False or a number of rounds >= 0, "
                         f"got {polish!r}")
    rounds = POLISH_ROUNDS if polish is True else int(polish)
    if info is not None:
        info.center = c
    if not isinstance(polish_size, (int, np.integer)) or polish_size < 16:
        raise ValueError(f"polish_size must be an integer >= 16, got {polish_size!r}")
    net = model if isinstance(model, JitterNet) else load_model(model)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    stack = torch.from_numpy(np.ascontiguousarray(arr)).to(dev)
    size = net.config.size
    thin = min(arr.shape[1:]) < size // 2
    if polish is True:
        rounds = POLISH_ROUNDS_THIN if thin else POLISH_ROUNDS
    if thin:
        logger.warning("prj images of %d x %d pixels are smaller than the network's %d x %d: "
                       "aligning the horizontal axis only, by iterative reprojection "
                       "(dy = 0)", arr.shape[1], arr.shape[2], size // 2, size // 2)
        dx, dy = _rows_only(stack, th, c, iters, backend, info, show_progress, t0)
    else:
        factor = network_factor(arr.shape, size)
        small = downsample(stack, factor)
        A = make_projector(th, small.shape[2], c / factor, backend=backend, device=dev)

        def register(current, ref):
            return predict(net, current, ref, batch_size=batch_size, device=dev)

        dx, dy = _iterate(small, iters, lambda cur: reproject_cycle(cur, th, c / factor, A),
                          register, "align", info, show_progress, t0, scale=factor,
                          stop_early=True)
    if rounds:
        pf = 1
        while max(arr.shape[1:]) // pf > polish_size:
            pf *= 2
        full = bin_columns(stack, pf) if thin else downsample(stack, pf)
        sx, sy = _polish(full, th, c / pf, dx / pf, dy / pf, backend, rounds=rounds,
                         num_iter=POLISH_ITERS_THIN if thin else POLISH_ITERS,
                         rows_only=thin)
        dx, dy = sx * pf, sy * pf
        if info is not None:
            info.record(dx, dy, t0)
    if info is not None:
        info.seconds = time.perf_counter() - t0
    return shift_tensor(stack, -dx, -dy).cpu().numpy(), dx, dy


def reprojection_error(aligned, theta, center: float, num_iter: int = MLEM_ITERS) -> float:
    """How far an aligned stack is from the projections of its own reconstruction:
    ``||p - A mlem(p)|| / ||p||`` after a 5 x 5 median (salt-and-pepper noise only) and a
    1.5 px Gaussian blur of both sides, so that noise weighs less than misalignment.
    Needs no ground truth: of two alignments of one scan, the lower is the more
    consistent."""
    from scipy.ndimage import gaussian_filter, median_filter

    arr = np.asarray(aligned, np.float32)
    if is_impulsive(arr):
        arr = median_filter(arr, size=(1, 5, 5))
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

    return _iterate(small, THIN_CYCLES * iters, reference, register, "align (rows only)",
                    info, show_progress, t0, scale=factor)


def _polish(stack, th, c, dx, dy, backend, rounds=POLISH_ROUNDS, num_iter=POLISH_ITERS,
            rows_only=False):
    """Sub-pixel refinement at full resolution: register the corrected stack against the
    reprojection of its own MLEM reconstruction, ``rounds`` times, the reconstruction
    carried from one round to the next. Stacks with salt-and-pepper noise are
    median-filtered (5 x 5, since a 3 x 3 median leaves much of strong noise) before the
    reconstruction, and both sides are smoothed (Gaussian, 1 px) before the registration.
    With ``rows_only`` only ``dx`` is refined.
    """
    from scipy.ndimage import gaussian_filter, median_filter

    noisy = is_impulsive(stack.cpu().numpy())
    A = make_projector(th, stack.shape[2], c, backend=backend, device=stack.device)
    rec = None
    for _ in range(rounds):
        corrected = shift_tensor(stack, -dx, -dy).cpu().numpy()
        if noisy:
            corrected = median_filter(corrected, size=(1, 5, 5))
        rec = mlem_tensor(torch.from_numpy(corrected), A, num_iter, init=rec)
        ref = A.forward(rec).cpu().numpy()
        if noisy:
            corrected = gaussian_filter(corrected, (0, 1, 1))
            ref = gaussian_filter(ref, (0, 1, 1))
        if rows_only:  # too few rows to see vertical shifts: register the row sums
            corrected, ref = corrected.sum(1, keepdims=True), ref.sum(1, keepdims=True)
        ex, ey = phase_correlation(corrected, ref, denoise=False)
        ey = np.zeros_like(ey) if rows_only else ey
        # a polish only refines: corrections beyond two pixels are failed registrations
        ok = np.hypot(ex, ey) < 2.0
        dx = dx + np.where(ok, ex, 0)
        dy = dy + np.where(ok, ey, 0)
        dy = dy - dy.mean()
    return dx, dy


def _iterate(stack, iters, reference, register, desc, info, show_progress, t0,
             scale: int = 1, stop_early: bool = False):
    """Shift ``stack`` (a tensor) by the shifts found so far, make its reference with
    ``reference(current)``, estimate the residual jitter with ``register(current, ref)``,
    accumulate, up to ``iters`` times. Shifts are returned in pixels of the full-size
    stack (``scale`` times those of ``stack``); the common vertical offset is removed,
    since reprojection cannot see it.

    The reprojection error of each stack against its reference (:func:`consistency`)
    scores the shifts of the previous cycle; with ``iters > 1`` the last shifts are scored
    too (a reference, no registration), and the most consistent shifts after the first
    cycle are returned, so that more cycles never end less consistent than one. With
    ``stop_early`` the cycles stop as soon as one raises the error.
    """
    dx = np.zeros(stack.shape[0])
    dy = np.zeros(stack.shape[0])
    best = None  # (error, dx, dy) of the most consistent shifts scored so far
    for k in progress(range(iters), desc, show_progress):
        current = _shifted(stack, dx, dy, scale)
        ref = reference(current)
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
    else:
        if iters > 1:
            current = _shifted(stack, dx, dy, scale)
            best = _better(best, consistency(current, reference(current)), dx, dy)
    if best is not None and not (np.array_equal(best[1], dx) and np.array_equal(best[2], dy)):
        logger.debug("%s: keeping the most consistent shifts (error %.5f)", desc, best[0])
        dx, dy = best[1], best[2]
        if info is not None:
            info.record(dx, dy, t0)
    return dx, dy


def _shifted(stack, dx, dy, scale):
    """``stack`` with the shifts found so far (in full-size pixels) removed."""
    return shift_tensor(stack, -dx / scale, -dy / scale) if dx.any() or dy.any() else stack


def _better(best, err, dx, dy):
    """The more consistent of ``best`` and ``(err, dx, dy)``; ties keep the earlier."""
    if best is None or err < best[0]:
        return (float(err), dx.copy(), dy.copy())
    return best


def consistency(current: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative misfit ``||p - A x|| / ||p||`` of a stack and its reprojection."""
    num = torch.linalg.vector_norm((current - ref).float())
    return float(num / torch.linalg.vector_norm(current.float()).clamp(min=1e-30))


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
