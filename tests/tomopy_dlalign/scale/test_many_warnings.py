"""align_many: the warnings of a scan's task, wherever it ran, reach the client's log,
the summary and the output's /process record."""

from __future__ import annotations

import logging

import h5py
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign.common.process import read_process
from tomopy_dlalign.scale import summary_table

from .conftest import NPROJ, write_scan


@pytest.fixture(scope="module")
def no_angles(tmp_path_factory):
    """A scan file without /exchange/theta: reading it assumes angles, with a warning."""
    path = tmp_path_factory.mktemp("no_angles") / "scan.h5"
    write_scan(path, seed=4)
    with h5py.File(path, "r+") as f:
        del f["exchange/theta"]
    return path


@pytest.mark.parametrize("where", ["here", "worker"])
def test_a_scan_s_warnings_reach_the_log_the_summary_and_its_process_record(
        no_angles, tmp_path, caplog, request, where):
    cluster = None if where == "here" else request.getfixturevalue("dask_client")
    with caplog.at_level(logging.WARNING):
        (res,) = tda.align_many([no_angles], tmp_path / "out", cluster=cluster,
                                show_progress=False)
    said = f"assuming {NPROJ} evenly over [0, 180)"
    assert res.status == "done"
    assert any(said in w for w in res.warnings)
    assert said in caplog.text                           # in the client's log
    if where == "worker":
        assert any(said in r.getMessage() and "[on worker tcp://" in r.getMessage()
                   and str(no_angles) in r.getMessage() for r in caplog.records)
    table = summary_table([res])
    head, row = table.splitlines()[:2]
    assert head.split()[-2:] == ["warnings", "status"]
    assert row.split()[-2:] == [str(len(res.warnings)), "done"]
    assert f"warning: scan.h5: {res.warnings[0]}" in table
    step = read_process(res.output).step("align")
    assert any(said in w for w in step.parameters["warnings"])
