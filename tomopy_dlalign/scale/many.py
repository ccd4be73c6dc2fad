"""Many scans: one task per scan, here or on a Dask cluster (:func:`align_many`).

Each task reads one scan, turns it into line integrals, aligns it with
:func:`tomopy_dlalign.align` and writes the aligned stack beside the input data
(:func:`tomopy_dlalign.io.write_dx`, atomic: a temporary file renamed when complete).
A run that was stopped resumes where it stopped: a scan whose output is already its
finished alignment is skipped. That is checked, not assumed (:func:`check_output`): the
output's ``/process`` record must say "aligned", its ``align`` step must have read this
scan, and its ``/exchange/data`` must have the scan's shape. An empty output, or a stale
alignment of this scan, is redone (with a warning); anything else at the output name (a
reconstruction, another scan's alignment, a file that is not ours) is refused by name
and left as it is. A scan that fails is reported by name and the others go on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.cluster import capturing, open_cluster, parse_cluster, run_tasks
from ..common.outputs import output_target, reading
from ..prep.selfcheck import summary

logger = logging.getLogger(__name__)

#: what a scan's row of the summary says happened to it
STATUSES = ("done", "skipped", "failed")


@dataclass
class ScanResult:
    """What :func:`align_many` did with one scan.

    Attributes
    ----------
    scan, output : str
        The input file and the aligned file.
    status : str
        ``"done"``, ``"skipped"`` (the output was this scan's finished alignment already:
        nothing was recomputed) or ``"failed"`` (see ``error``; also an output that is not
        this scan's alignment, which is refused and left as it is).
    shifts_rms : float or None
        RMS of the estimated jitter ``sqrt(mean(dx^2 + dy^2))``, pixels (done scans).
    center : float or None
        Rotation axis used, pixels along ``ncol`` (done scans).
    seconds : float or None
        Time the scan's task took, from reading to the renamed output (done scans).
    error : str or None
        Why a failed scan failed: the exception's type and message.
    check : str or None
        The alignment's self-check (:mod:`tomopy_dlalign.prep.selfcheck`): "improved" or
        "NOT improved" (the output then holds the input unaligned; ``warning`` says why).
    warning : str or None
        The self-check's warning, when it failed.
    warnings : list of str
        Every warning the scan's task raised, the self-check's included, wherever it
        ran (a worker's too).
    """

    scan: str
    output: str
    status: str
    shifts_rms: float | None = None
    center: float | None = None
    seconds: float | None = None
    error: str | None = None
    check: str | None = None
    warning: str | None = None
    warnings: list[str] = field(default_factory=list)


def line_integrals(scan, prep: bool = True, defects=True,
                   record: dict | None = None) -> np.ndarray:
    """The projections of a :class:`~tomopy_dlalign.io.Scan` as line integrals, float32.

    With ``prep``, raw counts are flat/dark-normalised (``defects`` and ``record`` as
    for :func:`~tomopy_dlalign.normalize`: True, False or a mask of defective pixels)
    and ``-log``-ed, normalised data only ``-log``-ed, and data already in line
    integrals (or aligned) kept, as the file's ``/process/state`` says; without it the
    data are taken as line integrals.
    """
    from ..prep import minus_log, normalize

    state = getattr(scan, "state", "raw")
    if state == "reconstruction":
        raise ValueError(f"{scan.source} holds a reconstruction (/process/state), not "
                         "projections")
    if not prep or state in ("line_integrals", "aligned"):
        return np.asarray(scan.data, np.float32)
    if state == "normalized":
        return minus_log(scan.data)
    if scan.flat is None:
        raise ValueError(f"{scan.source} has no flat fields; pass prep=False (--no-prep) if "
                         "the data are already line integrals")
    dark = scan.dark if scan.dark is not None else np.zeros_like(scan.flat[:1])
    return minus_log(normalize(scan.data, scan.flat, dark, defects=defects, record=record))


def align_scan(path: str | os.PathLike, output: str | os.PathLike,
               center: float | str | None = "auto", model=None, iters: int = 1,
               polish: bool | int = True, prep: bool = True, device: str = "auto",
               force: bool = False, defects: bool = True) -> dict:
    """Align one scan file and write the result: the task :func:`align_many` runs.

    ``center="auto"`` takes the axis the file records, else finds it; a file whose
    ``/process/state`` says it is aligned already is refused unless ``force``. Returns
    ``{"shifts_rms", "center", "seconds", "check", "warning"}`` (the self-check's word
    and, when it failed, why). The warnings raised while reading and aligning are kept
    in the output's ``/process`` record (``warnings`` of the ``align`` step).
    """
    from .. import io
    from ..prep import AlignInfo, align

    t0 = time.perf_counter()
    info = AlignInfo()
    found = {}
    with capturing() as caught:
        scan = io.read(path)
        if scan.theta is None:
            raise ValueError(f"{path} holds no rotation angles: not a tomographic scan")
        if getattr(scan, "state", "raw") == "aligned" and not force:
            raise ValueError(f"{path} is aligned already (/process/state); pass force=True "
                             "(--force) to align it again")
        if center == "auto" and scan.center is not None:
            center = scan.center
        line = line_integrals(scan, prep, defects, found)
        aligned, dx, dy = align(line, scan.theta, center=center, model=model, iters=iters,
                                polish=polish, device=device, info=info, show_progress=False)
    io.write_dx(output, aligned, theta=scan.theta, data_units="1/pixel",
                extras={"shift_x": (dx, "pixel"), "shift_y": (dy, "pixel")},
                parameters={"command": "align", "input": str(path), "iters": iters,
                            "polish": polish, **info.to_record(), **found,
                            "warnings": [str(c) for c in caught]},
                model=str(model or "shipped JitterNet"), template=path,
                state="aligned", step="align")
    return {"shifts_rms": float(np.sqrt(np.mean(dx ** 2 + dy ** 2))), "center": info.center,
            "seconds": time.perf_counter() - t0, "check": summary(info.verdict),
            "warning": info.warning}


def output_paths(paths: Sequence, output: str | os.PathLike | Sequence) -> list[Path]:
    """Where each scan's result goes: ``output`` is a folder (one file per scan, named
    as its input) or a list with one file per scan.

    Raises
    ------
    ValueError
        No scans, two scans with one output name, an output that is one of the inputs
        (the same file, by device and inode), a list of the wrong length.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("paths must be a list of scan files, got a single path; "
                        "pass [path]")
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty: give at least one scan file")
    if isinstance(output, (str, os.PathLike)):
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"output {str(folder)!r} is a file; with several scans it must "
                             "be a folder")
        outs = [folder / p.name for p in paths]
    else:
        outs = [Path(o) for o in output]
        if len(outs) != len(paths):
            raise ValueError(f"output lists {len(outs)} files for {len(paths)} scans")
    seen: dict[Path, Path] = {}
    inputs = {_file_id(p): p for p in paths if p.exists()}
    for p, o in zip(paths, outs, strict=True):
        if o.resolve() in seen:
            raise ValueError(f"scans {str(seen[o.resolve()])!r} and {str(p)!r} would both be "
                             f"written to {str(o)!r}; give them different names")
        seen[o.resolve()] = p
        source = inputs.get(_file_id(o)) if o.exists() else None
        if source == p:
            raise ValueError(f"the output of {str(p)!r} would overwrite the scan itself; "
                             "choose another output folder")
        if source is not None:
            raise ValueError(f"the output of {str(p)!r}, {str(o)!r}, is the scan "
                             f"{str(source)!r}; choose another output folder")
    return outs


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def check_output(scan: str | os.PathLike, output: str | os.PathLike) -> str | None:
    """Whether the existing ``output`` is the finished alignment of ``scan``: None when it
    is (resuming skips it), else why it must be redone.

    It is when its ``/process`` record says ``"aligned"``, its ``align`` step read
    ``scan`` (the same file) and its ``/exchange/data`` has the shape of the scan's
    projections. An empty file, or an alignment of ``scan`` of another shape (the scan
    changed since), is to be redone: nothing of value is lost.

    Raises
    ------
    ValueError
        ``output`` is not an alignment of ``scan`` (a reconstruction, another scan's
        alignment, a file with no record or that cannot be read): not ours to replace.
    """
    from .. import io
    from ..common.h5files import open_h5
    from ..common.process import STATES, is_hdf5, read_process

    scan, output = Path(scan), Path(output)
    if output.stat().st_size == 0:
        return "it is empty"
    keep = "; refusing to replace it: move it away or choose another output folder"
    if not is_hdf5(output):
        raise ValueError(f"{str(output)!r} exists and is not an HDF5 file, so not an "
                         f"alignment of {str(scan)!r}{keep}")
    record = read_process(output)
    if record.state != "aligned":
        held = (f"holds {STATES[record.state]} (/process/state {record.state!r})"
                if record.state else "records no processing state (/process/state)")
        raise ValueError(f"{str(output)!r} {held}, not an alignment of {str(scan)!r}{keep}")
    step = record.step("align")
    source = step and (step.input or step.parameters.get("input"))
    if not source:
        raise ValueError(f"{str(output)!r} records no align step with its input, so it "
                         f"cannot be told to be the alignment of {str(scan)!r}{keep}")
    if not (Path(source).exists() and _file_id(Path(source)) == _file_id(scan)):
        raise ValueError(f"{str(output)!r} holds the alignment of {source!r}, not of "
                         f"{str(scan)!r}{keep}")
    with open_h5(output) as f:
        data = f.get("exchange/data")
        shape = data.shape if data is not None and hasattr(data, "shape") else None
    expected = io.read(scan, lazy=is_hdf5(scan)).data.shape
    if shape != tuple(expected):
        return (f"it holds data of shape {shape}, the scan's projections are "
                f"{tuple(expected)} (the scan changed since it was aligned)")
    return None


def align_many(paths: Sequence[str | os.PathLike], output: str | os.PathLike | Sequence,
               cluster=None, center: float | str | None = "auto", model=None,
               iters: int = 1, polish: bool | int = True, prep: bool = True,
               device: str = "auto", resume: bool = True, force: bool = False,
               memory_limit=None, show_progress: bool | None = None,
               defects: bool = True, cluster_timeout: float | None = None
               ) -> list[ScanResult]:
    """Align many scans, one task per scan, in this process or on a Dask cluster.

    Parameters
    ----------
    paths : list of str or Path
        Scan files, any format :func:`tomopy_dlalign.io.read` reads.
    output : str, Path or list
        A folder (created if missing) that receives one file per scan, named as its
        input; or a list of output files, one per scan.
    cluster : optional
        Where the tasks run (:mod:`tomopy_dlalign.common.cluster`): None here, one scan
        after the other; ``"local"``, ``"local:N"``, ``"tcp://host:port"``, a
        ``Client`` or a cluster object on Dask workers, one scan per worker at a time.
    center : float, "auto" or None
        Rotation axis: ``"auto"`` takes the axis a file records, else finds it; a number
        imposes it on every scan; None is ``ncol / 2``.
    model, iters, polish, device
        As for :func:`tomopy_dlalign.align` (``model``: a weights file or None for the
        shipped one).
    prep : bool
        Normalise and ``-log`` raw scans (as their ``/process/state`` says); False takes
        the data as line integrals.
    defects : bool
        Replace the defective detector pixels of raw scans while normalising them
        (:func:`tomopy_dlalign.normalize`), recorded in each output's ``/process``.
    resume : bool
        Skip scans whose output is already their finished alignment (checked by
        :func:`check_output`; an empty or stale one is redone, anything else at the
        output name is refused as a failed scan). False recomputes them.
    force : bool
        Align files whose ``/process/state`` says they are aligned already (refused,
        as a failed scan, otherwise).
    memory_limit : str or int, optional
        Memory limit of each worker of a ``"local"`` cluster (``"2GB"``).
    show_progress : bool, optional
        Progress bar over scans; by default on a terminal.
    cluster_timeout : float, optional
        Seconds a scheduler address or a batch system may take to give a worker
        (:func:`~tomopy_dlalign.common.cluster.open_cluster`; default 60).

    Returns
    -------
    list of ScanResult
        One per scan, in the order of ``paths``; :func:`summary_table` formats them.
        A failed scan does not raise: its ``status`` is ``"failed"`` and ``error`` says
        why (also logged with the scan's name).

    Raises
    ------
    ClusterError
        The cluster cannot be reached or gets no worker in time
        (:func:`~tomopy_dlalign.common.cluster.open_cluster`); an output folder this
        call made is removed again.

    Example
    -------
    >>> import tomopy_dlalign as tda                         # doctest: +SKIP
    >>> results = tda.align_many(["a.h5", "b.h5"], "aligned/", cluster="local:2")
    >>> print(tda.scale.summary_table(results))
    """
    parse_cluster(cluster)
    outs = output_paths(paths, output)
    made = _make_folder(output) if isinstance(output, (str, os.PathLike)) else []
    try:
        return _align_all(paths, outs, cluster, resume, memory_limit, show_progress,
                          cluster_timeout, {"center": center, "model": model, "iters": iters,
                                            "polish": polish, "prep": prep, "device": device,
                                            "force": force, "defects": defects})
    except BaseException:
        _remove_empty(made)  # a cluster that cannot be reached leaves no empty folder
        raise


def _align_all(paths, outs, cluster, resume, memory_limit, show_progress, timeout,
               kwargs) -> list[ScanResult]:
    """:func:`align_many` once its outputs are checked and their folder made."""
    results = [ScanResult(str(p), str(o), "skipped") for p, o in zip(paths, outs, strict=True)]
    todo = _to_align(results, resume)
    tasks = [((str(paths[i]), str(outs[i])), kwargs) for i in todo]
    with open_cluster(cluster if todo else None, memory_limit=memory_limit,
                      timeout=timeout) as client:
        for res in run_tasks(align_scan, tasks, client, desc="scans", relog=False,
                             show_progress=show_progress, errors="return", key="align-scan"):
            row = results[todo[res.index]]
            row.warnings = res.warnings
            if res.worker is not None:  # raised there: said again here, with the scan
                for c in res.caught:
                    logger.log(c.level, "%s: %s [on worker %s]", row.scan, c.message,
                               res.worker)
            if res.ok:
                row.status = "done"
                row.shifts_rms = res.value["shifts_rms"]
                row.center = res.value["center"]
                row.seconds = res.value["seconds"]
                row.check, row.warning = res.value["check"], res.value["warning"]
                logger.info("%s: aligned in %.1f s -> %s", row.scan, row.seconds, row.output)
                if row.warning and res.worker is None:
                    logger.warning("%s: %s", row.scan, row.warning)
                if row.warning and row.warning not in row.warnings:
                    row.warnings.append(row.warning)
            else:
                row.status = "failed"
                row.error = f"{type(res.error).__name__}: {res.error}"
                logger.error("%s failed: %s", row.scan, row.error)
    return results


def _make_folder(folder: str | os.PathLike) -> list[Path]:
    """Make ``folder`` and its missing parents; the ones made, deepest first."""
    folder = Path(folder)
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (a finished scan): kept
            return


def _to_align(results: list[ScanResult], resume: bool) -> list[int]:
    """The indices of the scans to align. A scan whose output is its finished alignment
    (:func:`check_output`) stays "skipped" when resuming; one whose output cannot be
    written, or is not ours to replace, is marked failed here, before any work."""
    todo = []
    with reading([r.scan for r in results]):
        for i, row in enumerate(results):
            try:
                if resume and Path(row.output).exists():
                    why = check_output(row.scan, row.output)
                    if why is None:
                        logger.info("%s: %s is its alignment already, skipped", row.scan,
                                    row.output)
                        continue
                    logger.warning("%s: redoing %s: %s", row.scan, row.output, why)
                output_target(row.output)
            except (OSError, ValueError, KeyError) as exc:
                row.status, row.error = "failed", f"{type(exc).__name__}: {exc}"
                logger.error("%s failed: %s", row.scan, row.error)
                continue
            todo.append(i)
    return todo


def summary_table(results: Sequence[ScanResult]) -> str:
    """The results of :func:`align_many` as a text table: scan, shifts RMS, centre,
    time, the self-check, the number of warnings, status (and the error of failed
    scans); a scan whose alignment could not show an improvement reads "NOT improved".
    Each warning follows the table on a line of its own, with its scan's name."""
    head = ("scan", "shifts RMS (px)", "centre (px)", "time (s)", "check", "warnings",
            "status")
    rows = []
    for r in results:
        status = r.status if r.error is None else f"{r.status}: {r.error}"
        said = r.warnings or ([r.warning] if r.warning else [])
        rows.append((Path(r.scan).name,
                     "-" if r.shifts_rms is None else f"{r.shifts_rms:.2f}",
                     "-" if r.center is None else f"{r.center:.2f}",
                     "-" if r.seconds is None else f"{r.seconds:.1f}",
                     r.check or "-", str(len(said)) if said else "-", status))
    n = len(head) - 1
    widths = [max(len(head[k]), *(len(row[k]) for row in rows)) for k in range(n)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:n], widths, strict=True)) + "  "
             + head[n]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row[:n], widths, strict=True)) + "  "
              + row[n] for row in rows]
    lines += [f"warning: {Path(r.scan).name}: {w}" for r in results
              for w in (r.warnings or ([r.warning] if r.warning else []))]
    return "\n".join(lines)
