"""SPEC data files: a scan's columns, its command and the motor positions (a small reader).

SPEC (Certified Scientific Software), the sequencer of many synchrotron diffractometers,
writes text files: a file header, then one block per scan::

    #F /data/sample.spec                        file header: the file's name, epoch, date,
    #E 1700000000                               the motors' names (#O0, #O1, ...) and
    #D Mon Jan 01 10:00:00 2024                 mnemonics (#o0, #o1, ...)
    #O0 Two Theta  Theta  Chi  Phi
    #o0 tth th chi phi

    #S 12  ascan  th 10 11 50 1                 scan number and the command that ran it
    #D Mon Jan 01 10:05:00 2024
    #T 1  (Seconds)                             count time per point
    #P0 20 10.5 0 45                            motor positions at the start, in #O order
    #N 4                                        number of columns
    #L Theta  Epoch  Monitor  Detector          column labels
    10.0 12 1000 52                             one line per point
    10.02 13 1001 60
    #C aborted after 2 points                   a comment (anywhere)

Rules this reader follows (those of SPEC's own files and of the common readers):

- names in ``#O`` and labels in ``#L`` are separated by two spaces, since a name may hold
  one (``Two Theta``); a line whose double-space split does not give one name per value
  (``#P``) or per data column is split at every space instead (files some other
  sequencers write);
- ``#O``/``#o`` lines before a scan belong to the file header in force (a file can hold
  several headers, SPEC restarted); ``#O`` lines inside a scan replace them for that
  scan;
- a scan ends at the next ``#S`` or file header; blank lines, ``#C`` comments and MCA
  spectra (``@A`` lines and their ``\\`` continuations) inside it are skipped;
- a scan number can appear more than once in one file (a restarted session): the
  ``N.k`` key names its ``k``-th occurrence (``"12.2"``), as ``silx`` does;
- a last data line shorter than the others (a scan interrupted while writing) is dropped,
  with a warning.

:func:`read_spec_scan` reads one scan, :func:`spec_scans` lists a file's scans. A motor is
named by its column label or by its mnemonic (``th`` for ``Theta``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: scan commands whose first argument is the motor they move (``ascan th 10 11 50 1``)
MOTOR_SCANS = ("ascan", "dscan", "lup", "a2scan", "d2scan", "a3scan", "d3scan", "mesh",
               "dmesh")


@dataclass
class SpecScan:
    """One scan of a SPEC file, as :func:`read_spec_scan` returns it.

    Attributes
    ----------
    number : int
        The number after ``#S``.
    order : int
        1 for the first scan with this number in the file, 2 for the second, ...
    command : str
        The command that ran it (``"ascan  th 10 11 50 1"``).
    labels : list of str
        The column labels (``#L``).
    data : numpy.ndarray
        float64 ``(n_points, n_columns)``.
    motors : dict
        Motor name -> position at the scan's start (``#O`` names, ``#P`` values).
    mnemonics : dict
        Mnemonic -> motor name (``#o``), where the file gives them.
    header : dict
        The scan's other header lines by key (``"D"``: date, ``"T"`` or ``"M"``: count
        time or monitor counts, ...).
    comments : list of str
        Its ``#C`` lines.
    source : str
        The file.
    """

    number: int
    order: int
    command: str
    labels: list
    data: np.ndarray
    motors: dict = field(default_factory=dict)
    mnemonics: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)
    comments: list = field(default_factory=list)
    source: str = ""

    @property
    def key(self) -> str:
        """``"N.k"``: the scan's number and occurrence."""
        return f"{self.number}.{self.order}"

    @property
    def scanned_motor(self) -> str | None:
        """The motor the command moves (its first argument for ``ascan``, ``dscan``,
        ``lup``, ``a2scan``, ...), or None for other commands (``timescan``, ...)."""
        words = self.command.split()
        return words[1] if len(words) > 1 and words[0] in MOTOR_SCANS else None

    def _label(self, name: str) -> str | None:
        """The column label for a motor or counter named by label or mnemonic."""
        if name in self.labels:
            return name
        if self.mnemonics.get(name) in self.labels:
            return self.mnemonics[name]
        folded = [lab for lab in self.labels if lab.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def column(self, name: str) -> np.ndarray:
        """The values of the column ``name`` (label or mnemonic), one per point.

        Raises
        ------
        KeyError
            A name that is no column of the scan, naming its columns.
        """
        label = self._label(name)
        if label is None:
            raise KeyError(f"{name!r} is not a column of scan {self.key} of "
                           f"{self.source!r}: its columns are {', '.join(self.labels)}")
        return self.data[:, self.labels.index(label)].copy()

    def positions(self, motor: str | None = None) -> np.ndarray:
        """The positions of ``motor`` (default :attr:`scanned_motor`) at each point.

        Raises
        ------
        ValueError
            No motor given and the command moves none.
        KeyError
            A motor that is no column of the scan.
        """
        motor = motor or self.scanned_motor
        if motor is None:
            raise ValueError(f"scan {self.key} of {self.source!r} ({self.command!r}) moves no "
                             f"motor: name the rocking motor (one of its columns: "
                             f"{', '.join(self.labels)})")
        return self.column(motor)

    def motor_position(self, motor: str) -> float:
        """``motor``'s position at the scan's start (``#P``), by name or mnemonic."""
        name = self.mnemonics.get(motor, motor)
        if name not in self.motors:
            raise KeyError(f"motor {motor!r} is not in the #P positions of scan {self.key} of "
                           f"{self.source!r}")
        return self.motors[name]

    def record(self, motor: str | None = None) -> dict:
        """What a ``/process`` record keeps of the scan: file, number, command, date,
        the rocking motor with its positions and step, and the start positions of every
        motor."""
        name = motor or self.scanned_motor
        positions = self.positions(name)
        step = float(np.median(np.diff(positions))) if len(positions) > 1 else 0.0
        return {"file": self.source, "scan": self.key, "command": self.command,
                "date": self.header.get("D", ""), "motor": name,
                "positions": positions.tolist(), "step": step, "motors": dict(self.motors)}


def _split_names(text: str, count: int | None) -> list[str]:
    """Names two spaces apart, or one space apart when that gives ``count`` of them."""
    names = [n for n in re.split(r"\s{2,}", text.strip()) if n]
    if count is not None and len(names) != count:
        single = text.split()
        if len(single) == count:
            return single
    return names


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="latin-1").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"spec file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"spec file {str(path)!r} is a folder, not a SPEC file") from None


def _index(lines: list[str]) -> list[tuple[int, int, int, dict]]:
    """``(number, order, first line, file header)`` of every scan; the header holds the
    ``#O`` and ``#o`` lines in force, by their index."""
    scans, header, seen, inside = [], {"O": {}, "o": {}}, {}, False
    for i, line in enumerate(lines):
        # "#F" opens a file header, and so does "#E" after a scan ("#F" may be missing)
        if line.startswith("#F") or (inside and line.startswith("#E")):
            header, inside = {"O": {}, "o": {}}, False
        m = re.match(r"#([Oo])(\d+)\s?(.*)$", line)
        if m and not inside:
            header[m.group(1)][int(m.group(2))] = m.group(3)
        m = re.match(r"#S\s+(\d+)", line)
        if m:
            number = int(m.group(1))
            seen[number] = seen.get(number, 0) + 1
            scans.append((number, seen[number], i, header))
            inside = True
    return scans


def spec_scans(path: str | os.PathLike) -> list[str]:
    """The keys ``"N.k"`` of the scans of a SPEC file, in file order.

    Raises
    ------
    FileNotFoundError
        A file that does not exist.
    ValueError
        A file without any ``#S`` line.
    """
    path = Path(path)
    scans = _index(_lines(path))
    if not scans:
        raise ValueError(f"{str(path)!r} holds no scan (no '#S' line): not a SPEC file")
    return [f"{n}.{k}" for n, k, _, _ in scans]


def _scan_key(scan) -> tuple[int, int | None]:
    text = str(scan).strip()
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?", text)
    if isinstance(scan, bool) or not m or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ValueError(f"scan must be a scan number N or N.k (its k-th occurrence), "
                         f"got {scan!r}")
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def _choose(scans, scan, path: Path) -> tuple[int, int, int, dict]:
    number, order = _scan_key(scan)
    found = [s for s in scans if s[0] == number and (order is None or s[1] == order)]
    if not found:
        numbers = sorted({s[0] for s in scans})
        listed = ", ".join(map(str, numbers[:20])) + (", ..." if len(numbers) > 20 else "")
        raise KeyError(f"scan {scan} is not in {str(path)!r}: it holds scan(s) {listed}")
    if len(found) > 1:
        keys = ", ".join(f"{s[0]}.{s[1]}" for s in found)
        raise KeyError(f"scan {scan} appears {len(found)} times in {str(path)!r}: say which, "
                       f"as one of {keys}")
    return found[0]


def _parse_block(block: list[str], first: int, path: Path):
    """Header lines by key, ``#O``/``#P`` texts, comments and the data rows of a scan."""
    keys, own_o, p_text, comments, rows, in_mca = {}, {}, {}, [], [], False
    for j, line in enumerate(block):
        if in_mca or line.startswith("@"):
            in_mca = line.rstrip().endswith("\\")
            continue
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"#(\w+?)(\d*)\s(.*)$", line + " ")
            if not m:
                continue
            key, idx, text = m.group(1), m.group(2), m.group(3).strip()
            if key == "C":
                comments.append(text)
            elif key == "O" and idx:
                own_o[int(idx)] = text
            elif key == "P" and idx:
                p_text[int(idx)] = text
            else:
                keys[key + idx] = text
            continue
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError:
            raise ValueError(f"{str(path)!r} line {first + j + 1}: not a data line of numbers: "
                             f"{line.strip()[:60]!r}") from None
    return keys, own_o, p_text, comments, rows


def _table(rows: list[list[float]], keys: dict, where: str) -> tuple[list[str], np.ndarray]:
    ncols = int(keys["N"].split()[0]) if keys.get("N", "").split() else None
    width = ncols or (len(rows[0]) if rows else None)
    labels = _split_names(keys.get("L", ""), width) if "L" in keys else []
    if width is None:
        width = len(labels)
    if rows and len(rows[-1]) < width:
        logger.warning("%s: its last data line has %d of %d values (interrupted scan): dropped",
                       where, len(rows[-1]), width)
        rows = rows[:-1]
    bad = [k for k, r in enumerate(rows) if len(r) != width]
    if bad:
        raise ValueError(f"{where}: data line {bad[0] + 1} has {len(rows[bad[0]])} values, "
                         f"the scan {width} columns")
    if labels and len(labels) != width:
        raise ValueError(f"{where}: #L names {len(labels)} columns ({', '.join(labels)}), "
                         f"the data hold {width}")
    return labels, np.array(rows, dtype=np.float64).reshape(len(rows), width)


def read_spec_scan(path: str | os.PathLike, scan: int | str) -> SpecScan:
    """Read one scan of a SPEC file (module docstring).

    Parameters
    ----------
    path : str or PathLike
        The SPEC file.
    scan : int or str
        The scan number ``N`` (``12``, ``"12"``), or ``"N.k"`` for the ``k``-th scan
        numbered ``N`` in a file that holds several.

    Returns
    -------
    SpecScan

    Raises
    ------
    FileNotFoundError
        A file that does not exist.
    KeyError
        A scan number the file does not hold (its numbers are named), or one it holds
        several times without ``.k``.
    ValueError
        A malformed ``scan``; a file without scans; a data line that is not numbers, or
        of another length than the others or than ``#L`` says.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.spec"
    >>> _ = p.write_text("#F s.spec\\n#O0 Theta  Chi\\n#o0 th chi\\n\\n"
    ...                  "#S 3 ascan th 1 2 2 1\\n#P0 1 45\\n#N 2\\n#L Theta  Detector\\n"
    ...                  "1 10\\n1.5 20\\n2 15\\n")
    >>> s = read_spec_scan(p, 3)
    >>> s.scanned_motor, s.positions().tolist(), s.motor_position("chi")
    ('th', [1.0, 1.5, 2.0], 45.0)
    """
    path = Path(path)
    lines = _lines(path)
    scans = _index(lines)
    if not scans:
        raise ValueError(f"{str(path)!r} holds no scan (no '#S' line): not a SPEC file")
    number, order, first, header = _choose(scans, scan, path)
    following = [s[2] for s in scans if s[2] > first]
    end = min(following) if following else len(lines)
    for i in range(first + 1, end):  # a new file header ends the scan too
        if lines[i].startswith(("#F", "#E")):
            end = i
            break
    command = re.match(r"#S\s+\d+\s*(.*)$", lines[first]).group(1).strip()
    keys, own_o, p_text, comments, rows = _parse_block(lines[first + 1:end], first + 1, path)
    where = f"{str(path)!r} scan {number}.{order}"
    labels, data = _table(rows, keys, where)
    names_o = {**header["O"], **own_o}
    values = [float(v) for _, text in sorted(p_text.items()) for v in text.split()]
    names = [n for _, text in sorted(names_o.items()) for n in _split_names(text, None)]
    if len(names) != len(values):  # single-space names: split each line by its values
        counts = {k: len(p_text.get(k, "").split()) for k in names_o}
        names = [n for k, text in sorted(names_o.items()) for n in _split_names(text, counts[k])]
    mnemonics = [n for _, text in sorted(header["o"].items()) for n in text.split()]
    motors = dict(zip(names, values, strict=False))
    if len(names) != len(values):
        logger.warning("%s: %d motor names (#O) but %d positions (#P): paired in order",
                       where, len(names), len(values))
    logger.info("read %s: %r, %d points of %d columns", where, command, len(data), len(labels))
    return SpecScan(number=number, order=order, command=command, labels=labels, data=data,
                    motors=motors,
                    mnemonics=dict(zip(mnemonics, names, strict=False))
                    if len(mnemonics) == len(names) else {},
                    header=keys, comments=comments, source=str(path))
