"""align_large: a scan aligned block by block and slab by slab, as align does in memory."""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign.prep import residual_rmse
from tomopy_dlalign.scale import align_large


def test_align_large_on_two_workers_equals_align_in_memory(scans, tmp_path, dask_client):
    s = scans[0]
    res = align_large(s["path"], tmp_path / "aligned.h5", block=13, slab=9, recon="fbp",
                      recon_output=tmp_path / "rec.h5", cluster=dask_client)
    # align in memory conditions the data, captures, finds the axis again and checks
    # itself (issue 24); align_large runs the network and the polish block by block and
    # checks itself: the two agree to a tenth of a pixel, rigid motion removed
    assert residual_rmse(res.dx, res.dy, s["dx"], s["dy"], theta=s["theta"]) < 0.1
    assert res.verdict.improved and res.warning is None
    assert res.center == pytest.approx(tda.find_center(s["prj"], s["theta"]), abs=1e-3)
    out = tda.io.read(tmp_path / "aligned.h5")
    assert out.state == "aligned"
    np.testing.assert_allclose(out.data, tda.shift(s["prj"], -res.dx, -res.dy), atol=1e-4)
    np.testing.assert_allclose(tda.io.read_dataset(tmp_path / "aligned.h5",
                                                   "/exchange/shift_y"), res.dy)
    rec = tda.io.read(tmp_path / "rec.h5").data
    want = tda.fbp(out.data, s["theta"], center=res.center)
    np.testing.assert_allclose(rec, want, atol=1e-4 * np.abs(want).max())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tda-scratch")]


def test_align_large_refuses_bad_options_and_thin_scans(scans, tmp_path):
    s = scans[0]
    with pytest.raises(ValueError, match="recon_output"):
        align_large(s["path"], tmp_path / "a.h5", recon="fbp")
    with pytest.raises(ValueError, match="recon must be"):
        align_large(s["path"], tmp_path / "a.h5", recon="sirt", recon_output=tmp_path / "r.h5")
    with pytest.raises(ValueError, match="overwrite the scan"):
        align_large(s["path"], s["path"])
    thin = tmp_path / "thin.h5"
    tda.io.write_dx(thin, s["prj"][:, :4], theta=s["theta"], data_units="1/pixel",
                    state="line_integrals")
    with pytest.raises(ValueError, match="tda.align"):
        align_large(thin, tmp_path / "a.h5")
    assert not (tmp_path / "a.h5").exists()


def test_jitter_estimated_on_a_window_of_rows_is_applied_to_every_row(tmp_path):
    from tomopy_dlalign.scale.blocks import ScanSource

    theta = np.linspace(0, np.pi, 48, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", 64, 44, seed=5)
    prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -3, 3, seed=5)
    tda.io.write_dx(tmp_path / "tall.h5", prj, theta=theta, data_units="1/pixel",
                    state="line_integrals")
    _, dx, dy = tda.align(prj[:, 6:38], theta, center=32.0, show_progress=False)
    res = align_large(tmp_path / "tall.h5", tmp_path / "out.h5", rows=(6, 38), center=32.0,
                      block=20)
    assert residual_rmse(res.dx, res.dy, dx, dy, theta=theta) < 0.1
    np.testing.assert_allclose(tda.io.read(tmp_path / "out.h5").data,
                               tda.shift(prj, -res.dx, -res.dy), atol=1e-4)
    assert ScanSource(tmp_path / "out.h5").shape == prj.shape
    with pytest.raises(ValueError, match="rows must satisfy"):
        align_large(tmp_path / "tall.h5", tmp_path / "x.h5", rows=(30, 90))


def test_align_large_gives_the_same_shifts_whatever_the_blocks(scans, tmp_path):
    s = scans[1]
    a = align_large(s["path"], tmp_path / "a.h5", block=13, slab=9)
    b = align_large(s["path"], tmp_path / "b.h5", block=29, slab=16)
    np.testing.assert_allclose(a.dx, b.dx, atol=1e-4)
    np.testing.assert_allclose(a.dy, b.dy, atol=1e-4)
    assert a.verdict.improved and b.verdict.improved
