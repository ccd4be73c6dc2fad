"""Slab-wise MLEM, FBP, reprojection: the rows of the whole-stack result."""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign.io import LazyStack
from tomopy_dlalign.scale import (
    fbp_slabs,
    find_center_lazy,
    mlem_slabs,
    reproject_slabs,
)


def test_mlem_slabs_on_two_workers_equals_mlem_of_the_whole_stack(scans, dask_client):
    s = scans[0]
    whole = tda.mlem(s["prj"], s["theta"], center=31.5, num_iter=6)
    pieces = mlem_slabs(s["path"], None, center=31.5, num_iter=6, slab=5, cluster=dask_client)
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-6 * whole.max())


def test_mlem_slabs_continues_from_init_recon_and_writes_hdf5_slab_by_slab(scans, tmp_path):
    s = scans[1]
    start = tda.mlem(s["prj"], s["theta"], center=None, num_iter=3)
    whole = tda.mlem(s["prj"], s["theta"], center=None, num_iter=3, init_recon=start)
    lazy = LazyStack(s["path"], "/exchange/data", np.arange(len(s["theta"])))
    path = mlem_slabs(lazy, s["theta"], num_iter=3, init_recon=start, slab=7,
                      output=tmp_path / "rec.h5")
    scan = tda.io.read(path)
    assert scan.state == "reconstruction"
    np.testing.assert_allclose(scan.data, whole, rtol=1e-5, atol=1e-6 * whole.max())


def test_fbp_and_reproject_slabs_equal_the_whole_stack(scans):
    s = scans[2]
    rec = tda.fbp(s["prj"], s["theta"], center=32.0, filter_name="hann")
    np.testing.assert_allclose(fbp_slabs(s["prj"], s["theta"], 32.0, "hann", slab=6), rec,
                               atol=1e-6 * np.abs(rec).max())
    prj = tda.reproject(rec, s["theta"], center=32.0)
    np.testing.assert_allclose(reproject_slabs(rec, s["theta"], 32.0, slab=9), prj,
                               atol=1e-6 * np.abs(prj).max())


def test_dask_array_sources_are_read_slab_by_slab(scans):
    da = pytest.importorskip("dask.array")
    s = scans[0]
    whole = tda.fbp(s["prj"], s["theta"], center=None)
    lazy = da.from_array(s["prj"], chunks=(20, 8, 64))
    np.testing.assert_allclose(fbp_slabs(lazy, s["theta"], slab=8), whole,
                               atol=1e-6 * np.abs(whole).max())


def test_find_center_from_row_sums_equals_find_center(scans):
    s = scans[0]
    assert find_center_lazy(s["path"], block=7) == pytest.approx(
        tda.find_center(s["prj"], s["theta"]), abs=1e-3)


def test_bad_slab_arguments_are_refused_by_name(scans):
    s = scans[0]
    with pytest.raises(ValueError, match="slab"):
        mlem_slabs(s["prj"], s["theta"], slab=0)
    with pytest.raises(ValueError, match="center"):
        fbp_slabs(s["prj"], s["theta"], center="auto")
    with pytest.raises(ValueError, match="theta"):
        mlem_slabs(s["prj"], s["theta"][:-1])
