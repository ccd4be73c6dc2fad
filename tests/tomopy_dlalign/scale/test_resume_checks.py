"""align_many resumes only over outputs it can vouch for (issue 25): an existing output is
skipped when its /process record says it is the alignment of this very scan, with the
scan's shape; an empty or stale one is redone, and anything else at the output name is
refused by name and left as it is."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import cli
from tomopy_dlalign.common.process import read_process
from tomopy_dlalign.scale.many import check_output, output_paths

NPROJ, NSLICE, NCOL = 30, 8, 32


def _write_scan(path, seed: int, nslice: int = NSLICE) -> None:
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", NCOL, nslice, seed=seed)
    prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -2, 2, seed=seed)
    tda.io.write_dx(path, prj, theta=theta, data_units="1/pixel", state="line_integrals")


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """Scan ``b.h5`` and its alignment by align_many."""
    folder = tmp_path_factory.mktemp("resume")
    scan = folder / "b.h5"
    _write_scan(scan, seed=1)
    result = tda.align_many([scan], folder / "aligned", show_progress=False)[0]
    assert result.status == "done"
    return scan, Path(result.output)


@pytest.fixture
def run(tmp_path):
    """Scan ``a.h5`` and an empty output folder; ``run()`` resumes align_many over them
    and returns the scan's result."""
    scan = tmp_path / "a.h5"
    _write_scan(scan, seed=1)
    out = tmp_path / "out"
    out.mkdir()

    def resume():
        return tda.align_many([scan], out, show_progress=False)[0]

    return scan, out / "a.h5", resume


def _as_alignment_of(scan, aligned_file, output) -> None:
    """Put at ``output`` an alignment whose align step read ``scan`` (scan b's output,
    which has the same data, with its recorded input changed)."""
    shutil.copyfile(aligned_file, output)
    with h5py.File(output, "r+") as f:
        steps = f["process/steps"]
        steps[[name for name in sorted(steps) if name.endswith("_align")][-1]].attrs["input"] = \
            str(scan)


def test_a_good_output_is_skipped_and_not_rewritten(aligned, run):
    scan, output, resume = run
    _as_alignment_of(scan, aligned[1], output)
    assert check_output(scan, output) is None
    before = output.read_bytes()
    stamp = os.stat(output).st_mtime_ns
    assert resume().status == "skipped"
    assert output.read_bytes() == before and os.stat(output).st_mtime_ns == stamp


def test_a_zero_byte_output_is_redone_with_a_warning(run, caplog):
    scan, output, resume = run
    output.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="tomopy_dlalign.scale.many"):
        assert resume().status == "done"
    assert any("a.h5" in r.getMessage() and "empty" in r.getMessage() for r in caplog.records)
    record = read_process(output)
    assert record.state == "aligned" and os.path.samefile(record.step("align").input, scan)


def test_a_reconstruction_at_the_output_name_is_refused_and_kept(run, capsys):
    scan, output, resume = run
    tda.io.write_dx(output, np.ones((NSLICE, NCOL, NCOL), np.float32), data_units="1/pixel",
                    state="reconstruction", step="recon")
    before = output.read_bytes()
    result = resume()
    assert result.status == "failed"
    assert str(output) in result.error and "reconstructed volume" in result.error
    assert output.read_bytes() == before
    # the command line: the summary names it, exit 2, the file untouched
    assert cli.main(["align", str(scan), "-o", str(output.parent), "--no-progress"]) == 2
    assert "a.h5" in capsys.readouterr().out and output.read_bytes() == before


def test_an_alignment_of_another_scan_is_refused_and_kept(aligned, run):
    other, other_output = aligned
    scan, output, resume = run
    shutil.copyfile(other_output, output)              # b's alignment, named as a's
    before = output.read_bytes()
    result = resume()
    assert result.status == "failed"
    assert f"alignment of {str(other)!r}, not of" in result.error
    assert output.read_bytes() == before


def test_a_stale_alignment_of_this_scan_is_redone(aligned, run, caplog):
    scan, output, resume = run
    _as_alignment_of(scan, aligned[1], output)
    _write_scan(scan, seed=0, nslice=NSLICE // 2)      # the scan was measured again
    with caplog.at_level(logging.WARNING, logger="tomopy_dlalign.scale.many"):
        assert resume().status == "done"
    assert any("shape" in r.getMessage() for r in caplog.records)
    assert tda.io.read(output).data.shape == (NPROJ, NSLICE // 2, NCOL)


def test_an_output_that_is_another_scan_is_refused_before_any_work(tmp_path):
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "s.h5").write_bytes(b"")
    x, y = tmp_path / "x" / "s.h5", tmp_path / "y" / "s.h5"
    with pytest.raises(ValueError, match="is the scan"):
        output_paths([x, tmp_path / "t.h5"], [tmp_path / "o.h5", x])
    os.link(y, tmp_path / "hard.h5")
    with pytest.raises(ValueError, match="is the scan"):
        output_paths([x, y], [tmp_path / "hard.h5", tmp_path / "o2.h5"])
