"""What a file's data are, and what was done to them: the ``/process`` record.

Every HDF5 file either package writes (Data Exchange, NXtomo, CXI, phasing results)
says what its data hold and how they got there, and every reader acts on it: a
reconstruction of an aligned file does not normalise again, ``align`` refuses an
already aligned file, ``cluster`` wants a phasing result. This module is the one place
that defines the record and reads and writes it.

Schema (``SCHEMA``, version 1)::

    /process/state                  scalar string: what the data hold now (STATES)
        attrs: schema               "tomopy_dlalign.process/1"
    /process/steps/NN_<step>        one group per processing step, NN = 00, 01, ... in order
        attrs: step                 the step's name ("simulate", "align", "recon", "phase", ...)
               index                its position (int, the NN of the name)
               state                the state the step left the data in
               package, version     the package and version that ran it
               time                 when, ISO 8601 in UTC
               parameters           the step's parameters, as JSON
               model                the network used, when one was (optional)
               input                the file the step read, when it read one (optional)
        datasets                    what the step produced besides the data, as hard links
                                    to the file's own datasets (``align``: ``shift_x``,
                                    ``shift_y`` in pixels; ``simulate``: the truth)

States (``/process/state``):

============== ==========================================================================
raw            detector counts; the file's flats and darks apply (``normalize``)
normalized     transmission: counts divided by the flat, dark subtracted
line_integrals ``-log`` of the transmission, the projections every algorithm takes
aligned        line integrals with the jitter removed (shifts in the ``align`` step)
reconstruction a volume ``(nslice, ncol, ncol)`` in 1/pixel
pattern        a diffraction intensity (and its mask), centred
phased         phasing results (objects, supports, chi^2) beside their pattern
============== ==========================================================================

A step that reads one file and writes another carries the input's steps over
(:func:`copy_history`), so the last file of a chain holds the whole chain. A file
without ``/process/state`` is read as ``raw`` (tomography) or as a measured
``pattern`` (diffraction), and the assumption is logged (:func:`state_of`); files
written by earlier versions of this package are recognised by their provenance group.

Example
-------
>>> import h5py, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
>>> with h5py.File(path, "w") as f:
...     _ = record_step(f, "simulate", "raw", {"size": 8})
...     _ = record_step(f, "align", "aligned", {"iters": 1})
>>> rec = read_process(path)
>>> rec.state, [s.name for s in rec.steps]
('aligned', ['simulate', 'align'])
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from . import __version__
from .h5files import jsonable, open_h5

logger = logging.getLogger(__name__)

SCHEMA = "tomopy_dlalign.process/1"

#: every state a file's data can be in, and what it means
STATES = {
    "raw": "detector counts; the file's flats and darks apply",
    "normalized": "transmission: counts divided by the flat field, dark subtracted",
    "line_integrals": "-log of the transmission",
    "aligned": "line integrals with the jitter removed",
    "reconstruction": "a reconstructed volume (nslice, ncol, ncol)",
    "pattern": "a diffraction intensity and its mask, centred",
    "phased": "phasing results beside their diffraction pattern",
}
#: states of tomographic projections, in the order of the data path
PROJECTION_STATES = ("raw", "normalized", "line_integrals", "aligned")
#: states whose data every tomographic algorithm takes as they are
LINE_INTEGRAL_STATES = ("line_integrals", "aligned")
#: states of diffraction files
DIFFRACTION_STATES = ("pattern", "phased")

_STATE = "process/state"
_STEPS = "process/steps"
# outputs of earlier versions, which recorded the command but not the state
_LEGACY_COMMANDS = {"align": "aligned", "demo align": "aligned", "recon": "reconstruction",
                    "simulate": "raw", "demo": "raw"}


@dataclass(frozen=True)
class Step:
    """One processing step of a file, as recorded under ``/process/steps``."""

    index: int
    name: str
    state: str
    package: str = ""
    version: str = ""
    time: str = ""
    parameters: dict = field(default_factory=dict)
    model: str | None = None
    input: str | None = None
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessRecord:
    """What a file records about its data: ``state`` (None when it records nothing)
    and its ``steps`` in order. ``inferred`` is True when the state was deduced from the
    provenance of an earlier version rather than read from ``/process/state``."""

    state: str | None
    steps: tuple[Step, ...] = ()
    source: str = ""
    inferred: bool = False

    @property
    def recorded(self) -> bool:
        """Whether the file says what its data are."""
        return self.state is not None

    def step(self, name: str) -> Step | None:
        """The last step called ``name``, or None."""
        found = [s for s in self.steps if s.name == name]
        return found[-1] if found else None

    def describe(self) -> str:
        """One line for messages: the state and the steps that led to it."""
        if self.state is None:
            return "no recorded state"
        chain = " -> ".join(s.name for s in self.steps)
        return f"state {self.state!r}" + (f" after {chain}" if chain else "")


def check_state(state: str, name: str = "state") -> str:
    """``state`` if it is one of :data:`STATES`, else a ValueError naming ``name``."""
    if not isinstance(state, str) or state not in STATES:
        raise ValueError(f"{name} must be one of {', '.join(STATES)}, got {state!r}")
    return state


def step_name(text: str) -> str:
    """A step name for a group name: lower case, runs of anything but letters and
    digits turned into one ``_`` (``"demo align"`` -> ``"demo_align"``)."""
    name = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    if not name:
        raise ValueError(f"step must name the processing step, got {text!r}")
    return name


def record_step(f: h5py.File, step: str, state: str, parameters: Mapping | None = None, *,
                package: str = "tomopy_dlalign", model: str | None = None,
                source: str | os.PathLike | None = None,
                links: Iterable[str] = ()) -> h5py.Group:
    """Append a step to ``f``'s ``/process/steps`` and set ``/process/state``.

    Parameters
    ----------
    f : h5py.File
        An open, writable file (the temporary file of an atomic writer).
    step : str
        What was done (``"simulate"``, ``"align"``, ``"recon"``, ``"phase"``, ...).
    state : str
        What the data hold after it, one of :data:`STATES`.
    parameters : mapping, optional
        The step's parameters, stored as JSON (arrays as lists, paths as strings).
    package, model : str
        The package that ran the step, and the network it used if any.
    source : path, optional
        The file the step read.
    links : iterable of str
        Datasets of ``f`` the step produced (``/exchange/shift_x``): hard-linked into the
        step's group, so that a later step replacing them leaves this one's intact.

    Returns
    -------
    h5py.Group
        The step's group, ``/process/steps/NN_<step>``.
    """
    check_state(state)
    name = step_name(step)
    steps = f.require_group(_STEPS)
    index = len(steps)
    grp = steps.create_group(f"{index:02d}_{name}")
    grp.attrs["step"] = name
    grp.attrs["index"] = index
    grp.attrs["state"] = state
    grp.attrs["package"] = package
    grp.attrs["version"] = __version__
    grp.attrs["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    grp.attrs["parameters"] = json.dumps(dict(parameters or {}), default=jsonable,
                                         sort_keys=True)
    if model is not None:
        grp.attrs["model"] = str(model)
    if source is not None:
        grp.attrs["input"] = str(source)
    for path in links:
        obj = f.get(path)
        if not isinstance(obj, h5py.Dataset):
            raise KeyError(f"cannot link {path!r} into step {name!r}: no such dataset")
        grp[path.rstrip("/").rsplit("/", 1)[-1]] = obj
    _set_state(f, state)
    return grp


def _set_state(f: h5py.File, state: str) -> None:
    if _STATE in f:
        del f[_STATE]
    ds = f.require_group("process").create_dataset("state", data=state,
                                                   dtype=h5py.string_dtype())
    ds.attrs["schema"] = SCHEMA


def copy_history(f: h5py.File, source: str | os.PathLike) -> int:
    """Carry the steps (and state) recorded in ``source`` over to ``f``, for a step that
    reads one file and writes a new one; steps ``f`` already holds are kept. Returns the
    number of steps copied (0 for a source that records none, or that is not HDF5)."""
    try:
        src = open_h5(source)
    except (OSError, ValueError):
        return 0
    copied = 0
    with src:
        if not isinstance(src.get(_STEPS), h5py.Group):
            return 0
        steps = f.require_group(_STEPS)
        for name in sorted(src[_STEPS], key=lambda n: int(src[_STEPS][n].attrs.get("index", 0))):
            if name not in steps:
                src.copy(src[_STEPS][name], steps, name=name)
                copied += 1
        if _STATE not in f and isinstance(src.get(_STATE), h5py.Dataset):
            _set_state(f, _decode(src[_STATE][()]))
    return copied


def _decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_step(grp: h5py.Group) -> Step:
    attrs = grp.attrs
    try:
        params = json.loads(_decode(attrs.get("parameters", "{}")))
    except json.JSONDecodeError:
        params = {}
    return Step(index=int(attrs.get("index", 0)), name=_decode(attrs.get("step", grp.name)),
                state=_decode(attrs.get("state", "")), package=_decode(attrs.get("package", "")),
                version=_decode(attrs.get("version", "")), time=_decode(attrs.get("time", "")),
                parameters=params if isinstance(params, dict) else {},
                model=_decode(attrs["model"]) if "model" in attrs else None,
                input=_decode(attrs["input"]) if "input" in attrs else None,
                datasets=tuple(k for k, v in grp.items() if isinstance(v, h5py.Dataset)))


def _legacy_state(f: h5py.File) -> str | None:
    """The state of a file written before the record existed, from what it holds."""
    if isinstance(f.get("exchange/object"), h5py.Dataset):
        return "phased"
    grp = f.get("process/tomopy_dlalign")
    if isinstance(grp, h5py.Group):
        try:
            params = json.loads(_decode(grp.attrs.get("parameters", "{}")))
        except json.JSONDecodeError:
            return None
        return _LEGACY_COMMANDS.get(params.get("command")) if isinstance(params, dict) else None
    return None


def read_process(source: str | os.PathLike | h5py.File) -> ProcessRecord:
    """The ``/process`` record of a file (a path or an open h5py file).

    A file that records no state gives ``ProcessRecord(state=None)``, except a file
    written by an earlier version of this package, whose state is deduced from its
    provenance (``inferred=True``).
    """
    if not isinstance(source, (h5py.File, h5py.Group)):
        with open_h5(source) as f:
            return read_process(f)
    f = source
    steps = f.get(_STEPS)
    found = tuple(sorted((_read_step(g) for g in steps.values() if isinstance(g, h5py.Group)),
                         key=lambda s: s.index)) if isinstance(steps, h5py.Group) else ()
    ds = f.get(_STATE)
    if isinstance(ds, h5py.Dataset):
        state = _decode(ds[()])
        if state not in STATES:
            raise ValueError(f"{f.filename!r}: /process/state is {state!r}, expected one of "
                             f"{', '.join(STATES)}")
        return ProcessRecord(state, found, str(f.filename))
    legacy = _legacy_state(f)
    if legacy is not None:
        logger.info("%s records no /process/state; its provenance says %r (written by an "
                    "earlier version)", f.filename, legacy)
        return ProcessRecord(legacy, found, str(f.filename), inferred=True)
    return ProcessRecord(None, found, str(f.filename))


def state_of(record: ProcessRecord, default: str = "raw") -> str:
    """The state of ``record``, or ``default`` for a file that records none, logging the
    assumption (tomography readers take ``"raw"``, diffraction readers ``"pattern"``)."""
    check_state(default, "default")
    if record.state is not None:
        return record.state
    logger.info("%s records no processing state (/process/state): treating its data as %s "
                "(%s)", record.source or "the file", default, STATES[default])
    return default


def is_hdf5(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing HDF5 file (the only files that hold a record)."""
    p = Path(path)
    return p.is_file() and h5py.is_hdf5(p)
