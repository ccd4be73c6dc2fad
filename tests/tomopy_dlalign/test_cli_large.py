"""``tomopy-dlalign align --rows A:B`` and ``--large``: a scan aligned slab by slab from the
shell (tomopy_dlalign.scale.align_large), written as align writes it, with the shifts of
the alignment in memory."""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import cli
from tomopy_dlalign.prep import residual_rmse

NPROJ, NSLICE, NCOL = 48, 44, 64


@pytest.fixture(scope="module")
def tall(tmp_path_factory):
    """A jittered scan of line integrals, taller than the sample's region of rows."""
    path = tmp_path_factory.mktemp("tall") / "tall.h5"
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", NCOL, NSLICE, seed=5)
    prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -3, 3, seed=5)
    tda.io.write_dx(path, prj, theta=theta, data_units="1/pixel", state="line_integrals")
    return path, prj, theta


def _shifts(path):
    return (tda.io.read_dataset(path, "/exchange/shift_x"),
            tda.io.read_dataset(path, "/exchange/shift_y"))


def test_align_rows_writes_the_alignment_of_those_rows_applied_to_every_row(tall, tmp_path):
    path, prj, theta = tall
    out = tmp_path / "aligned.h5"
    assert cli.main(["align", str(path), "-o", str(out), "--rows", "6:38", "--center", "32",
                     "--no-progress"]) == 0
    _, dx, dy = tda.align(prj[:, 6:38], theta, center=32.0, show_progress=False)
    ex, ey = _shifts(out)
    assert residual_rmse(ex, ey, dx, dy, theta=theta) < 0.1
    written = tda.io.read(out)
    assert written.state == "aligned" and written.data.shape == prj.shape
    np.testing.assert_allclose(written.data, tda.shift(prj, -ex, -ey), atol=1e-4)


def test_align_large_gives_the_shifts_of_align_in_memory(tall, tmp_path):
    path, prj, theta = tall
    memory, large = tmp_path / "memory.h5", tmp_path / "large.h5"
    assert cli.main(["align", str(path), "-o", str(memory), "--no-progress"]) == 0
    assert cli.main(["align", str(path), "-o", str(large), "--large", "--no-progress"]) == 0
    mx, my = _shifts(memory)
    lx, ly = _shifts(large)
    # as tests/tomopy_dlalign/scale/test_large.py: a tenth of a pixel, rigid motion removed
    assert residual_rmse(lx, ly, mx, my, theta=theta) < 0.1
    assert tda.io.read(large).state == tda.io.read(memory).state == "aligned"


def test_slab_wise_options_are_checked_before_any_work(tall, tmp_path, capsys):
    path, _, _ = tall
    out = tmp_path / "x.h5"
    cases = {("--rows", "6:38", "--report", str(tmp_path / "rep")): "--report needs",
             ("--rows", "30:90"): "rows must satisfy",
             ("--large", "--no-defects"): "--no-defects"}
    for extra, message in cases.items():
        assert cli.main(["align", str(path), "-o", str(out), *extra]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
    with pytest.raises(SystemExit):
        cli.main(["align", str(path), "-o", str(out), "--rows", "6-38"])
    assert "expected detector rows START:STOP" in capsys.readouterr().err


def test_a_scan_larger_than_the_memory_available_goes_slab_by_slab(tall, tmp_path,
                                                                   monkeypatch, caplog):
    from tomopy_dlalign.cli import align

    path, prj, _ = tall
    monkeypatch.setattr(align, "_memory_available", lambda: align.MEMORY_PER_BYTE * prj.nbytes - 1)
    with caplog.at_level("INFO"):
        assert cli.main(["align", str(path), "-o", str(tmp_path / "a.h5"), "--no-progress"]) == 0
    assert "aligning it slab by slab (as --large)" in caplog.text
    assert "tomopy_dlalign.scale.large" in {r.name for r in caplog.records}
    monkeypatch.setattr(align, "_memory_available", lambda: align.MEMORY_PER_BYTE * prj.nbytes)
    caplog.clear()
    with caplog.at_level("INFO"):
        assert cli.main(["align", str(path), "-o", str(tmp_path / "b.h5"), "--no-progress"]) == 0
    assert "slab by slab" not in caplog.text
