"""align_many: one task per scan, the same result as in-process, resume, failures."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import cli
from tomopy_dlalign.scale import summary_table
from tomopy_dlalign.scale.many import output_paths


def test_align_many_on_two_workers_matches_align_in_process(scans, tmp_path, dask_client):
    results = tda.align_many([s["path"] for s in scans], tmp_path / "out",
                             cluster=dask_client)
    assert [r.status for r in results] == ["done"] * 3
    for s, r in zip(scans, results, strict=True):
        scan = tda.io.read(r.output)
        assert scan.state == "aligned"
        np.testing.assert_allclose(scan.data, s["aligned"], atol=1e-5)
        np.testing.assert_allclose(tda.io.read_dataset(r.output, "/exchange/shift_x"),
                                   s["dx"], atol=1e-5)
        assert r.shifts_rms == pytest.approx(np.sqrt(np.mean(s["dx"] ** 2 + s["dy"] ** 2)))
    table = summary_table(results)
    assert all(s["path"].name in table for s in scans) and table.count("done") == 3


def test_resume_skips_scans_whose_output_exists(scans, tmp_path):
    out = tmp_path / "out"
    first = tda.align_many([scans[0]["path"]], out)
    stamp = os.stat(first[0].output).st_mtime_ns
    again = tda.align_many([s["path"] for s in scans[:2]], out, show_progress=False)
    assert [r.status for r in again] == ["skipped", "done"]
    assert os.stat(first[0].output).st_mtime_ns == stamp       # not rewritten
    redo = tda.align_many([scans[0]["path"]], out, resume=False)
    assert redo[0].status == "done" and os.stat(redo[0].output).st_mtime_ns != stamp


def test_a_failing_scan_is_reported_by_name_and_the_others_complete(scans, tmp_path,
                                                                    dask_client):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an HDF5 file")
    results = tda.align_many([bad, scans[1]["path"]], tmp_path / "out", cluster=dask_client)
    assert results[0].status == "failed" and "broken.h5" in results[0].error
    assert not os.path.exists(results[0].output)
    assert results[1].status == "done"
    np.testing.assert_allclose(tda.io.read(results[1].output).data, scans[1]["aligned"],
                               atol=1e-5)
    assert "broken.h5" in summary_table(results)


def test_outputs_that_collide_or_overwrite_an_input_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "scan.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="would both be written"):
        output_paths([tmp_path / "a" / "scan.h5", tmp_path / "b" / "scan.h5"], tmp_path / "o")
    with pytest.raises(ValueError, match="overwrite the scan itself"):
        output_paths([tmp_path / "a" / "scan.h5"], tmp_path / "a")
    with pytest.raises(ValueError, match="cluster="):
        tda.align_many([tmp_path / "a" / "scan.h5"], tmp_path / "o", cluster="locl")


def test_cli_aligns_several_scans_into_a_folder_on_a_running_scheduler(scans, tmp_path,
                                                                       dask_client, capsys):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"nope")
    out = tmp_path / "out"
    out.mkdir()
    address = dask_client.scheduler.address
    code = cli.main(["align", str(scans[2]["path"]), str(bad), "--cluster", address,
                     "-o", str(out)])
    assert code == 2                                          # one scan failed
    table = capsys.readouterr().out
    assert "scan2.h5" in table and "done" in table and "broken.h5" in table
    np.testing.assert_allclose(tda.io.read(out / "scan2.h5").data, scans[2]["aligned"],
                               atol=1e-5)
