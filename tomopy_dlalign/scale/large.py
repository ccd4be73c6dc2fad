"""One scan larger than memory: :func:`tomopy_dlalign.align` block by block and slab by slab.

:func:`align_large` runs the steps of :func:`~tomopy_dlalign.align` (the network's
cycle on a binned stack, the sub-pixel polish, the final shift) on a scan file that
never sits whole in any process:

1. one pass over **blocks of projections** reads the file (only that block), and stores
   the stack binned for the network and for the polish, the projections' row sums (for
   the rotation axis) and the counts that tell salt-and-pepper noise;
2. each cycle shifts the binned stack block-wise, reconstructs and reprojects it **slab
   by slab** (MLEM of a slab of slices is those slices of the whole MLEM), and runs the
   **network on blocks of projections** against their reprojections;
3. the polish does the same at its resolution, with phase correlation on blocks;
4. a last pass shifts the full-resolution projections block by block and the client
   writes them, one block at a time, into one HDF5 file; an optional reconstruction
   (FBP or MLEM) runs slab by slab into a second file.

Intermediate stacks wait on disk in a scratch folder (:class:`BlockStore`), which is
removed at the end. Every task holds one block or one slab (sized by ``block`` and
``slab``, about 32 MB by default) plus its working copies and, for the slab steps, the
projector of the binned geometry: the memory of a worker depends on those sizes, not on
the scan's. The shifts are those of :func:`~tomopy_dlalign.align` on the whole stack to
float precision (the same operations on the same numbers, in pieces).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.cluster import capturing, open_cluster, parse_cluster, run_tasks
from ..prep.alignment import (
    MLEM_ITERS,
    POLISH_ITERS,
    POLISH_ROUNDS,
    POLISH_SIZE,
    check_iters,
    network_factor,
)
from .blocks import (
    CHUNK_BYTES,
    BlockStore,
    ScanSource,
    bounds,
    check_size,
    h5_output,
    projections_per_block,
    rows_per_slab,
)
from .slabs import projector

logger = logging.getLogger(__name__)

#: reconstructions :func:`align_large` can end with
RECONS = ("fbp", "mlem")


@dataclass
class LargeAlignResult:
    """What :func:`align_large` returns: the estimated jitter ``dx``, ``dy`` (pixels, the
    sense of :func:`tomopy_dlalign.align`), the rotation axis used, the files written and
    the seconds each step took."""

    dx: np.ndarray
    dy: np.ndarray
    center: float
    output: str
    recon_output: str | None = None
    seconds: dict = field(default_factory=dict)
    #: the self-check (:mod:`tomopy_dlalign.prep.selfcheck`); when it failed, the shifts
    #: are 0, the output is the input, and ``warning`` says why
    verdict: object = None
    warning: str | None = None
    #: every warning raised on the way, here or on a worker (kept in the output's
    #: ``/process`` record too)
    warnings: list = field(default_factory=list)


_MODELS: dict = {}


def _network(model):
    """The JitterNet of ``model`` (None: the shipped one), loaded once per process."""
    from ..models.jitternet import JitterNet, load_model

    if isinstance(model, JitterNet):
        return model
    key = None if model is None else os.fspath(model)
    if key not in _MODELS:
        _MODELS[key] = load_model(key)
    return _MODELS[key]


# -- tasks (run on workers; each reads and writes one block or slab) ----------------------

def _bin_task(source: ScanSource, k: int, cut, rows, factors: dict, fine_factor: int):
    """Read block ``k`` of the scan (its detector ``rows``), store it binned by each
    factor (``{factor: store}``); return its row sums and, binned by ``fine_factor``,
    its count of pixels at their projection's extremes (salt-and-pepper noise) and its
    pixel count."""
    import torch

    from ..prep.alignment import downsample

    y = source.window(cut, rows)
    t = torch.from_numpy(np.ascontiguousarray(y))
    counts = (0, 1)
    for f, store in factors.items():
        small = downsample(t, f).numpy()
        store.write(k, small)
        if f == fine_factor:
            lo = small.min(axis=(1, 2), keepdims=True)
            hi = small.max(axis=(1, 2), keepdims=True)
            counts = (int(((small == lo) | (small == hi)).sum()), small.size)
    return y.sum(axis=1, dtype=np.float64), counts


def _shift_task(src: BlockStore, dst: BlockStore, k: int, sx, sy, median: bool):
    """Piece ``k`` of ``src`` with the shifts ``(sx, sy)`` removed (and a 5 x 5 median
    when ``median``), into ``dst``."""
    import torch
    from scipy.ndimage import median_filter

    from ..prep.shifts import shift_tensor

    x = torch.from_numpy(src.piece(k))
    if np.any(sx) or np.any(sy):
        x = shift_tensor(x, -np.asarray(sx), -np.asarray(sy))
    out = x.numpy()
    if median:
        out = median_filter(out, size=(1, 5, 5))
    dst.write(k, out)


def _reference_task(cur: BlockStore, rows, k: int, theta, center, num_iter, rec: BlockStore,
                    init: bool, ref: BlockStore, backend, device):
    """MLEM of slab ``k`` of ``cur`` (from slab ``k`` of ``rec`` when ``init``), its
    reprojection into ``ref``, the MLEM into ``rec``; returns ``(sum (p - Ax)^2, sum p^2)``
    of the slab (the reprojection error's parts)."""
    from ..recon import mlem

    y = cur.read(None, rows)
    A = projector(theta, y.shape[2], center, backend, device)
    x0 = rec.piece(k) if init else None
    x = mlem(y, theta, num_iter=num_iter, init_recon=x0, projector=A, show_progress=False)
    p = A.forward(x)
    rec.write(k, x)
    ref.write(k, p)
    return float(np.sum((y.astype(np.float64) - p) ** 2)), float(np.sum(y.astype(np.float64) ** 2))


def _predict_task(cur: BlockStore, ref: BlockStore, k: int, cut, model, batch_size, device):
    """JitterNet's ``(dx, dy)`` for the projections of block ``k``."""
    from ..models.jitternet import predict

    return predict(_network(model), cur.piece(k), ref.read(cut), batch_size=batch_size,
                   device=device)


def _register_task(cur: BlockStore, ref: BlockStore, k: int, cut, noisy: bool, sx, sy):
    """Phase correlation of block ``k`` against its reprojection (the polish); the edge
    fill of the block's shifts ``(sx, sy)`` is replaced by the reference, as in
    :func:`tomopy_dlalign.align`'s polish."""
    from scipy.ndimage import gaussian_filter

    from ..prep.alignment import fill_mask
    from ..prep.registration import phase_correlation

    a, b = cur.piece(k), ref.read(cut)
    fill = fill_mask(a.shape, sx, sy, "cpu").numpy()
    a = np.where(fill, b, a)
    if noisy:
        a, b = gaussian_filter(a, (0, 1, 1)), gaussian_filter(b, (0, 1, 1))
    return phase_correlation(a, b, denoise=False)


def _final_task(source: ScanSource, k: int, cut, dx, dy, out: BlockStore):
    """The full-resolution projections of block ``k`` with the jitter removed."""
    import torch

    from ..prep.shifts import shift_tensor

    y = torch.from_numpy(np.ascontiguousarray(source.window(cut, (0, source.shape[1]))))
    out.write(k, shift_tensor(y, -np.asarray(dx), -np.asarray(dy)).numpy())


def _recon_task(aligned: BlockStore, rows, k: int, theta, center, algorithm, num_iter,
                filter_name, backend, device, out: BlockStore):
    from ..recon import fbp, mlem

    y = aligned.read(None, rows)
    A = projector(theta, y.shape[2], center, backend, device)
    if algorithm == "fbp":
        x = fbp(y, theta, filter_name=filter_name, projector=A)
    else:
        x = mlem(y, theta, num_iter=num_iter, projector=A, show_progress=False)
    out.write(k, x)


# -- the steps (run in the client) ---------------------------------------------------------

@dataclass
class _Plan:
    """Sizes and scratch stores of one run of :func:`align_large`."""

    source: ScanSource
    scratch: Path
    theta: np.ndarray
    factor: int
    fine: int
    block: int
    slab: int | None
    rows: tuple[int, int] = (0, 0)
    client: object = None
    show_progress: bool | None = None

    def cuts(self, shape):
        """Blocks of projections of a stack of ``shape`` (a fixed ``block``, or sized by
        the memory budget)."""
        return bounds(shape[0], self.block or projections_per_block(shape[1], shape[2],
                                                                    CHUNK_BYTES))

    def slabs(self, shape, factor: int):
        rows = (max(1, self.slab // factor) if self.slab
                else rows_per_slab(shape[0], shape[2], CHUNK_BYTES))
        return bounds(shape[1], rows)

    def store(self, name, shape, cuts, axis):
        return BlockStore(self.scratch, name, shape, cuts, axis)

    def run(self, task, tasks, desc):
        return run_tasks(task, tasks, self.client, desc=desc, show_progress=self.show_progress,
                         key=desc.replace(" ", "-"))


def _binned_shape(shape, f):
    return (shape[0], shape[1] // f, shape[2] // f)


def _read_pass(plan: _Plan):
    """Step 1: the binned stacks, the row sums and whether the data are impulsive (of
    the rows the jitter is estimated on)."""
    shape = (plan.source.shape[0], plan.rows[1] - plan.rows[0], plan.source.shape[2])
    cuts = plan.cuts(shape)
    stores = {f: plan.store(f"bin{f}", _binned_shape(shape, f), cuts, 0)
              for f in sorted({plan.factor, plan.fine})}
    sums = np.empty((shape[0], shape[2]), np.float64)
    extreme = total = 0
    tasks = [(plan.source, k, cut, plan.rows, stores, plan.fine)
             for k, cut in enumerate(cuts)]
    for res in plan.run(_bin_task, tasks, "read blocks"):
        a, b = cuts[res.index]
        sums[a:b] = res.value[0]
        extreme += res.value[1][0]
        total += res.value[1][1]
    return stores, sums, extreme / max(total, 1) > 0.005


def _reference(plan: _Plan, cur: BlockStore, center, num_iter, rec, init, ref, backend,
               device):
    slabs = ref.cuts
    tasks = [(cur, rows, k, plan.theta, center, num_iter, rec, init, ref, backend, device)
             for k, rows in enumerate(slabs)]
    num = den = 0.0
    for res in plan.run(_reference_task, tasks, "reconstruct slabs"):
        num += res.value[0]
        den += res.value[1]
    return float(np.sqrt(num) / max(np.sqrt(den), 1e-30))


def _shifted(plan, src: BlockStore, dst: BlockStore, sx, sy, median=False):
    tasks = [(src, dst, k, sx[a:b], sy[a:b], median) for k, (a, b) in enumerate(src.cuts)]
    for _ in plan.run(_shift_task, tasks, "shift blocks"):
        pass


def _cycle_stores(plan: _Plan, prefix: str, stack: BlockStore, slabs):
    """The three stores of a cycle on ``stack``: the shifted stack (in the stack's blocks
    of projections), its reconstruction and its reprojection (in slabs of slices)."""
    shape = stack.shape
    return (plan.store(prefix + "cur", shape, stack.cuts, 0),
            plan.store(prefix + "rec", (shape[1], shape[2], shape[2]), slabs, 0),
            plan.store(prefix + "ref", shape, slabs, 1))


def _coarse(plan: _Plan, small: BlockStore, center: float, iters: int, model, batch_size,
            backend, device):
    """Step 2: the network's cycles on the binned stack (:func:`align`'s, early stop
    and most consistent shifts included); shifts in full-resolution pixels."""
    f = plan.factor
    shape = small.shape
    slabs = plan.slabs(shape, f)
    cur, rec, ref = _cycle_stores(plan, "", small, slabs)
    dx, dy = np.zeros(shape[0]), np.zeros(shape[0])
    best = None

    def reference(dx, dy):
        _shifted(plan, small, cur, dx / f, dy / f)
        return _reference(plan, cur, center / f, MLEM_ITERS, rec, False, ref, backend, device)

    for k in range(iters):
        err = reference(dx, dy)
        if k > 0:
            if best is not None and err >= best[0]:
                break
            best = _better(best, err, dx, dy)
        tasks = [(cur, ref, j, cut, model, batch_size, device) for j, cut in enumerate(cur.cuts)]
        ex, ey = np.zeros(shape[0]), np.zeros(shape[0])
        for res in plan.run(_predict_task, tasks, "network blocks"):
            a, b = cur.cuts[res.index]
            ex[a:b], ey[a:b] = res.value
        dx = dx + ex * f
        dy = dy + ey * f
        dy -= dy.mean()
    else:
        if iters > 1:
            best = _better(best, reference(dx, dy), dx, dy)
    if best is not None and not (np.array_equal(best[1], dx) and np.array_equal(best[2], dy)):
        dx, dy = best[1], best[2]
    return dx, dy


def _better(best, err, dx, dy):
    if best is None or err < best[0]:
        return (float(err), dx.copy(), dy.copy())
    return best


def _polish(plan: _Plan, fine: BlockStore, center: float, dx, dy, rounds: int, noisy: bool,
            backend, device):
    """Step 3: the sub-pixel polish at the polish's binning (:func:`align`'s)."""
    pf = plan.fine
    shape = fine.shape
    slabs = plan.slabs(shape, pf)
    cur, rec, ref = _cycle_stores(plan, "p", fine, slabs)
    sx, sy = dx / pf, dy / pf
    for r in range(rounds):
        _shifted(plan, fine, cur, sx, sy, median=noisy)
        _reference(plan, cur, center / pf, POLISH_ITERS, rec, r > 0, ref, backend, device)
        ex, ey = np.zeros(shape[0]), np.zeros(shape[0])
        tasks = [(cur, ref, k, cut, noisy, sx[a:b], sy[a:b])
                 for k, (cut, (a, b)) in enumerate(zip(cur.cuts, cur.cuts, strict=True))]
        for res in plan.run(_register_task, tasks, "register blocks"):
            a, b = cur.cuts[res.index]
            ex[a:b], ey[a:b] = res.value
        ok = np.hypot(ex, ey) < 2.0
        sx = sx + np.where(ok, ex, 0)
        sy = sy + np.where(ok, ey, 0)
        sy = sy - sy.mean()
    return sx * pf, sy * pf


def _write_aligned(plan: _Plan, output, dx, dy, center, parameters):
    """Step 4: the full-resolution projections shifted block by block, copied into
    ``output`` one block at a time as the blocks finish. Returns their store (for the
    reconstruction)."""
    src = plan.source
    cuts = plan.cuts(src.shape)
    aligned = plan.store("aligned", src.shape, cuts, 0)
    extras = {"shift_x": (dx, "pixel"), "shift_y": (dy, "pixel"),
              "theta": (np.degrees(plan.theta), "degrees")}
    tasks = [(src, k, (a, b), dx[a:b], dy[a:b], aligned) for k, (a, b) in enumerate(cuts)]
    with h5_output(output, src.shape, "1/pixel", "aligned", "align", parameters,
                   history=src.path, extras=extras) as f:
        ds = f["exchange/data"]
        for res in plan.run(_final_task, tasks, "shift full blocks"):
            a, b = cuts[res.index]
            ds[a:b] = aligned.piece(res.index)
    return aligned


def _write_recon(plan: _Plan, aligned: BlockStore, recon_output, center, algorithm, num_iter,
                 filter_name, backend, device, history):
    """Step 5: the reconstruction of the aligned stack, slab by slab, into its file."""
    nproj, nslice, ncol = aligned.shape
    slabs = plan.slabs(aligned.shape, 1)
    out = plan.store("recon", (nslice, ncol, ncol), slabs, 0)
    tasks = [(aligned, rows, k, plan.theta, center, algorithm, num_iter, filter_name, backend,
              device, out) for k, rows in enumerate(slabs)]
    params = {"command": "recon", "algorithm": algorithm, "num_iter": num_iter,
              "filter_name": filter_name, "center": center, "input": str(history)}
    with h5_output(recon_output, (nslice, ncol, ncol), "1/pixel", "reconstruction", "recon",
                   params, history=history) as f:
        ds = f["exchange/data"]
        for res in plan.run(_recon_task, tasks, f"{algorithm} slabs"):
            a, b = slabs[res.index]
            ds[a:b] = out.piece(res.index)
            out.path(res.index).unlink()


def _check_options(path, output, recon, recon_output, polish, polish_size):
    if recon not in (None, *RECONS):
        raise ValueError(f"recon must be None or one of {RECONS}, got {recon!r}")
    if recon is not None and recon_output is None:
        raise ValueError("recon_output is required when recon is given: the file for the "
                         "reconstruction")
    if not isinstance(polish, (bool, int, np.integer)) or polish < 0:
        raise ValueError(f"polish must be True, False or a number of rounds >= 0, got "
                         f"{polish!r}")
    if not isinstance(polish_size, (int, np.integer)) or polish_size < 16:
        raise ValueError(f"polish_size must be an integer >= 16, got {polish_size!r}")
    for name, value in (("output", output), ("recon_output", recon_output)):
        if value is not None and Path(value).resolve() == Path(path).resolve():
            raise ValueError(f"{name} would overwrite the scan itself: {str(path)!r}")
    return POLISH_ROUNDS if polish is True else int(polish)


def align_large(path: str | os.PathLike, output: str | os.PathLike,
                center: float | str | None = "auto", model=None, iters: int = 1,
                polish: bool | int = True, polish_size: int = POLISH_SIZE, prep: bool = True,
                rows: tuple[int, int] | None = None, recon: str | None = None,
                recon_output: str | os.PathLike | None = None,
                num_iter: int = 20, filter_name: str = "shepp", cluster=None,
                block: int | None = None, slab: int | None = None,
                scratch: str | os.PathLike | None = None, memory_limit=None,
                backend: str = "auto", device: str = "auto", batch_size: int = 64,
                show_progress: bool | None = None,
                cluster_timeout: float | None = None) -> LargeAlignResult:
    """Align (and optionally reconstruct) a scan too large for memory, piece by piece.

    Parameters
    ----------
    path : str or Path
        The scan file (Data Exchange, NXtomo, TIFF, ...), read window by window.
    output : str or Path
        The aligned projections, written block by block into this Data Exchange file
        (``/exchange/data``, ``shift_x``, ``shift_y``, ``theta``; atomic).
    center : float, "auto" or None
        Rotation axis: ``"auto"`` takes the axis the file records, else finds it from the
        row sums (:func:`tomopy_dlalign.find_center`); None is ``ncol / 2``.
    model, iters, polish, polish_size, batch_size, backend, device
        As for :func:`tomopy_dlalign.align` (slabs thinner than half the network's input
        are not taken: load them and use ``align``).
    prep : bool
        Normalise and ``-log`` as the file's ``/process/state`` says; False: the data
        are line integrals.
    rows : (start, stop), optional
        Detector rows to estimate the jitter on (a region of interest; default all):
        the shifts are then those of ``tda.align(prj[:, start:stop], ...)``, applied to
        every row. A jitter moves whole projections, so a window of a few hundred rows
        holding the sample estimates it for all, at a fraction of the cost; and the
        network, which resizes each projection to 64 x 64, needs a window not much taller
        than wide.
    recon : {"fbp", "mlem"}, optional
        Also reconstruct the aligned stack, slab by slab, into ``recon_output``
        (``num_iter`` MLEM iterations, or FBP with ``filter_name``).
    cluster
        Where the tasks run (:mod:`tomopy_dlalign.common.cluster`); None: here, one
        piece at a time.
    block, slab : int, optional
        Projections per block and detector rows per slab (at full resolution; the binned
        steps use proportionally fewer rows). Default: about 32 MB of data per task.
    scratch : str or Path, optional
        Folder for the intermediate stacks (about twice the scan's size at most, removed
        at the end); default a new folder beside ``output``. All workers must see it.
    memory_limit : str or int, optional
        Memory limit per worker of a ``"local"`` cluster (``"1GB"``).
    show_progress : bool, optional
        A progress bar per step.
    cluster_timeout : float, optional
        Seconds a scheduler address or a batch system may take to give a worker
        (:func:`~tomopy_dlalign.common.cluster.open_cluster`; default 60).

    Returns
    -------
    LargeAlignResult
        ``dx``, ``dy``, ``center``, the files, the seconds of each step and the
        warnings raised on the way (on workers too; also in the output's ``/process``).

    Notes
    -----
    The module docstring gives the steps. The shifts equal those of
    ``tda.align(prj, theta, center=...)`` on the whole stack in memory to float precision:
    every step that mixes projections (MLEM, reprojection) works on slices, which are
    independent, and every step that mixes rows (binning, shifts, the network, phase
    correlation) works on whole projections.

    Example
    -------
    >>> from tomopy_dlalign.scale import align_large             # doctest: +SKIP
    >>> res = align_large("big.h5", "big_aligned.h5", recon="fbp",
    ...                   recon_output="big_rec.h5", cluster="local:4", memory_limit="2GB")
    """
    t0 = time.perf_counter()
    rounds = _check_options(path, output, recon, recon_output, polish, polish_size)
    iters = check_iters(iters)
    block, slab = check_size(block, "block"), check_size(slab, "slab")
    parse_cluster(cluster)
    source = ScanSource(path, prep=prep)
    window, factor, fine = _factors(path, source.shape, rows, model, polish_size)
    folder = Path(tempfile.mkdtemp(prefix=".tda-scratch-", dir=scratch or
                                   Path(output).resolve().parent))
    seconds = {}
    try:
        with (capturing() as caught,  # here, and those of workers, logged here again
              open_cluster(cluster, memory_limit=memory_limit, timeout=cluster_timeout)
              as client):
            plan = _Plan(source, folder, source.theta, factor, fine, block, slab, window,
                         client, show_progress)
            dx, dy, c, verdict = _estimate(plan, center, iters, rounds, model, batch_size,
                                           backend, device, seconds)
            t = time.perf_counter()
            params = {"command": "align", "input": str(path), "iters": iters, "center": c,
                      "polish": polish, "polish_size": polish_size, "rows": window,
                      "model": str(model or "shipped JitterNet"), "block": block, "slab": slab,
                      "self_check": verdict.to_record(),
                      "warning": None if verdict.improved else verdict.message,
                      "warnings": [str(w) for w in caught]}
            aligned = _write_aligned(plan, output, dx, dy, c, params)
            seconds["shift and write"] = time.perf_counter() - t
            if recon is not None:
                t = time.perf_counter()
                _write_recon(plan, aligned, recon_output, c, recon, num_iter, filter_name,
                             backend, device, output)
                seconds[f"{recon} and write"] = time.perf_counter() - t
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    seconds["total"] = time.perf_counter() - t0
    logger.info("aligned %s (%d x %d x %d) in %.1f s: %s", path, *source.shape,
                seconds["total"], ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return LargeAlignResult(dx=dx, dy=dy, center=c, output=os.fspath(output),
                            recon_output=None if recon is None else os.fspath(recon_output),
                            seconds=seconds, verdict=verdict,
                            warning=None if verdict.improved else verdict.message,
                            warnings=[str(w) for w in caught])


def _factors(path, shape, rows, model, polish_size):
    """The rows the jitter is estimated on, and the binning of the network's stack and
    of the polish's (as :func:`tomopy_dlalign.align` chooses them for those rows)."""
    nproj, nslice, ncol = shape
    window = _rows(rows, nslice)
    height = window[1] - window[0]
    size = _network(model).config.size
    if min(height, ncol) < size // 2:
        raise ValueError(f"{path} has images of {height} x {ncol} pixels (rows {window}), "
                         f"thinner than half the network's input ({size // 2}): such a slab "
                         "fits in memory; use tda.align")
    fine = 1
    while max(height, ncol) // fine > polish_size:
        fine *= 2
    return window, network_factor((nproj, height, ncol), size), fine


def _estimate(plan: _Plan, center, iters, rounds, model, batch_size, backend, device,
              seconds: dict):
    """Steps 1-3: the shifts ``(dx, dy)``, the rotation axis and the self-check's verdict
    (zero shifts when it failed); ``seconds`` gets the time of each step."""
    t = time.perf_counter()
    stores, sums, noisy = _read_pass(plan)
    seconds["read and bin"] = time.perf_counter() - t
    c = _center(center, plan.source, sums)
    t = time.perf_counter()
    dx, dy = _coarse(plan, stores[plan.factor], c, iters, model, batch_size, backend, device)
    seconds["network cycles"] = time.perf_counter() - t
    t = time.perf_counter()
    if rounds:
        dx, dy = _polish(plan, stores[plan.fine], c, dx, dy, rounds, noisy, backend, device)
    seconds["polish"] = time.perf_counter() - t
    t = time.perf_counter()
    verdict = _check(plan, stores[plan.factor], c, dx, dy, backend)
    seconds["self-check"] = time.perf_counter() - t
    for store in stores.values():
        store.remove()
    if not verdict.improved:
        logger.warning(verdict.message)
        dx, dy = np.zeros_like(dx), np.zeros_like(dy)
    return dx, dy, c, verdict


def _check(plan: _Plan, small: BlockStore, center: float, dx, dy, backend):
    """The self-check of :func:`tomopy_dlalign.align` on the network's binned stack,
    which fits in memory (it is binned to about 64 pixels)."""
    import torch

    from ..prep.selfcheck import self_check
    from ..recon.projectors import make_projector

    stack = torch.from_numpy(np.ascontiguousarray(small.read(None), np.float32))
    A = make_projector(plan.theta, stack.shape[2], center / plan.factor, backend=backend)
    return self_check(stack, A, plan.factor, dx, dy)


def _rows(rows, nslice: int) -> tuple[int, int]:
    """``rows`` as a checked ``(start, stop)`` window of ``nslice`` detector rows."""
    if rows is None:
        return (0, nslice)
    try:
        start, stop = (int(r) for r in rows)
    except (TypeError, ValueError):
        raise ValueError(f"rows must be (start, stop), got {rows!r}") from None
    if not 0 <= start < stop <= nslice:
        raise ValueError(f"rows must satisfy 0 <= start < stop <= {nslice} (the scan's rows), "
                         f"got {rows!r}")
    return (start, stop)


def _center(center, source: ScanSource, sums: np.ndarray) -> float:
    """The rotation axis: the file's or found (``"auto"``), imposed, or ``ncol / 2``;
    checked against the row sums as :func:`tomopy_dlalign.align` checks it."""
    from ..recon.center import resolve_center

    if center == "auto" and source.center is not None:
        center = source.center
    return resolve_center(center, sums[:, None, :].astype(np.float32), source.theta)
