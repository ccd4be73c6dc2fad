"""The SPEC reader: a scan's number, command, columns, motor positions and step, from files
the tests write in the layouts SPEC and other sequencers use; its refusals."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cdi_plugins import io

HEADER = """#F /data/id01/sample.spec
#E 1700000000
#D Mon Jan 01 10:00:00 2024
#C id01  User = opid01
#O0 Two Theta  eta  Chi  Phi
#O1 nu  delta
#o0 tth eta chi phi
#o1 nu del
"""


def _scan(number: int, motor: str, start: float, step: float, points: int, *,
          positions: str = "#P0 35.2 17.6 0.5 90\n#P1 0.25 35.1\n") -> str:
    """A rocking scan of ``motor`` in SPEC's layout: header, labels two spaces apart, one
    data line per point, a comment and an MCA spectrum among them."""
    end = start + step * (points - 1)
    lines = [f"\n#S {number}  ascan  {motor} {start:g} {end:g} {points - 1} 0.5",
             "#D Mon Jan 01 10:05:00 2024", "#T 0.5  (Seconds)", positions.rstrip("\n"),
             "#N 5", f"#L {motor}  Epoch  Monitor  Detector  Two Theta"]
    for k in range(points):
        lines.append(f"{start + k * step:.5f} {100 + k} {1000 + k} {50 + 3 * k} 35.2")
        if k == 1:
            lines += ["#C a comment between points", "@A 1 2 3 4 \\", " 5 6 7 8"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "sample.spec"
    path.write_text(HEADER + _scan(1, "eta", 17.0, 0.01, 4) + _scan(2, "phi", 89.5, 0.05, 6)
                    + _scan(3, "eta", 17.2, 0.004, 31))
    return path


def test_a_scan_gives_its_number_command_columns_positions_and_step(spec_file):
    assert io.spec_scans(spec_file) == ["1.1", "2.1", "3.1"]
    scan = io.read_spec_scan(spec_file, 3)
    assert (scan.number, scan.order, scan.key) == (3, 1, "3.1")
    assert scan.command.split() == ["ascan", "eta", "17.2", "17.32", "30", "0.5"]
    assert scan.labels == ["eta", "Epoch", "Monitor", "Detector", "Two Theta"]
    assert scan.data.shape == (31, 5)                         # comment and MCA lines skipped
    assert scan.scanned_motor == "eta"
    np.testing.assert_allclose(scan.positions(), 17.2 + 0.004 * np.arange(31), atol=1e-9)
    np.testing.assert_array_equal(scan.column("Detector"), 50 + 3 * np.arange(31))
    assert scan.header["T"].startswith("0.5") and scan.header["D"].startswith("Mon Jan")
    assert scan.comments == ["a comment between points"]
    record = scan.record()
    assert record["motor"] == "eta" and record["scan"] == "3.1"
    assert record["step"] == pytest.approx(0.004)


def test_motor_positions_pair_names_with_values_and_answer_to_mnemonics(spec_file):
    scan = io.read_spec_scan(spec_file, "2")
    # "Two Theta" holds a space: names are two spaces apart
    assert scan.motors == {"Two Theta": 35.2, "eta": 17.6, "Chi": 0.5, "Phi": 90.0,
                           "nu": 0.25, "delta": 35.1}
    assert scan.motor_position("del") == 35.1 and scan.motor_position("tth") == 35.2
    assert scan.scanned_motor == "phi"
    np.testing.assert_allclose(scan.positions(), 89.5 + 0.05 * np.arange(6))
    np.testing.assert_array_equal(scan.column("tth"), np.full(6, 35.2))   # by mnemonic


def test_single_space_names_are_split_by_their_values(tmp_path):
    # a sequencer that writes names one space apart (Sardana's SPEC recorder)
    path = tmp_path / "sardana.dat"
    path.write_text("#S 1 ascan gap03 -10.0 10.0 2 0.1\n#O0 mot12 mot13 gap03\n"
                    "#P0 0.0 1.5 -10.0\n#N 3\n#L Pt_No gap03 ct13\n0 -10 1\n1 0 2\n2 10 3\n")
    scan = io.read_spec_scan(path, 1)
    assert scan.labels == ["Pt_No", "gap03", "ct13"]
    assert scan.motors == {"mot12": 0.0, "mot13": 1.5, "gap03": -10.0}
    np.testing.assert_array_equal(scan.positions(), [-10, 0, 10])


def test_a_repeated_scan_number_is_chosen_by_its_occurrence(tmp_path, spec_file):
    path = tmp_path / "restarted.spec"
    # SPEC restarted: a second file header, then the numbers start again
    path.write_text(spec_file.read_text() + "\n" + HEADER.replace("eta  Chi", "eta  Kappa")
                    + _scan(1, "eta", 20.0, 0.02, 5))
    assert io.spec_scans(path) == ["1.1", "2.1", "3.1", "1.2"]
    with pytest.raises(KeyError, match=r"scan 1 appears 2 times .* one of 1\.1, 1\.2"):
        io.read_spec_scan(path, 1)
    second = io.read_spec_scan(path, "1.2")
    assert second.order == 2 and len(second.data) == 5
    assert "Kappa" in second.motors and "Chi" not in second.motors   # its own header's names
    assert io.read_spec_scan(path, "1.1").positions()[0] == 17.0


def test_an_interrupted_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.spec"
    path.write_text(HEADER + _scan(5, "eta", 17.0, 0.01, 4) + "17.04 104 10")
    with caplog.at_level(logging.WARNING):
        scan = io.read_spec_scan(path, 5)
    assert len(scan.data) == 4 and "interrupted scan" in caplog.text


def test_a_missing_scan_and_bad_files_are_refused_by_name(tmp_path, spec_file):
    with pytest.raises(KeyError, match=r"scan 7 is not in .*sample\.spec': it holds scan\(s\) "
                                       r"1, 2, 3"):
        io.read_spec_scan(spec_file, 7)
    with pytest.raises(ValueError, match=r"scan must be a scan number N or N\.k .*got 'x'"):
        io.read_spec_scan(spec_file, "x")
    with pytest.raises(FileNotFoundError, match="spec file .*nope.spec' does not exist"):
        io.read_spec_scan(tmp_path / "nope.spec", 1)
    (tmp_path / "notes.txt").write_text("just text\n")
    with pytest.raises(ValueError, match="holds no scan .*not a SPEC file"):
        io.read_spec_scan(tmp_path / "notes.txt", 1)
    scan = io.read_spec_scan(spec_file, 1)
    with pytest.raises(KeyError, match="'theta' is not a column of scan 1.1 .*: its columns "
                                       "are eta, Epoch"):
        scan.positions("theta")
    bad = tmp_path / "bad.spec"
    bad.write_text(HEADER + _scan(1, "eta", 17.0, 0.01, 3).replace("17.01000", "17.0l"))
    with pytest.raises(ValueError, match=r"bad\.spec' line \d+: not a data line"):
        io.read_spec_scan(bad, 1)
    timescan = tmp_path / "time.spec"
    timescan.write_text("#S 1 timescan 1\n#N 2\n#L Epoch  Detector\n1 2\n2 3\n")
    with pytest.raises(ValueError, match="moves no motor: name the rocking motor"):
        io.read_spec_scan(timescan, 1).positions()
