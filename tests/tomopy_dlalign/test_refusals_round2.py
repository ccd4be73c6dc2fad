"""Issue 25, second round: Ctrl-C from the first instant, plugins that exit at import,
exit codes of a missing package, and refusals instead of silent nonsense, each naming
the argument (or, on the command line, one line and exit 2)."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tomopy_dlalign import (
    align,
    cli,
    fbp,
    find_center,
    io,
    mlem,
    normalize,
    plugins,
    reproject,
    simulate,
)
from tomopy_dlalign.plugins import hookimpl

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "astra", "h5py", "matplotlib", "dask", "numpy")
THETA = np.linspace(0, np.pi, 12, endpoint=False)


def test_ctrl_c_while_the_command_line_imports_is_one_line_and_exit_130(tmp_path,
                                                                         interrupt_cli):
    code, err = interrupt_cli(
        "tomopy-dlalign", ["simulate", "-o", "scan.h5", "--size", "128", "--nproj", "360"],
        tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and err.strip() == "tomopy-dlalign: interrupted"


def test_the_launcher_imports_no_heavy_library_before_its_handler():
    code = ("import sys; import tomopy_dlalign.common.launch; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


class _EntryPoint:
    """An entry point of group tomopy.plugins whose module ends the process at import."""

    name = "exits-at-import"

    def load(self):
        sys.exit(3)


class _ExitingHook:
    @hookimpl
    def register_recon(self):
        sys.exit(4)


@pytest.fixture
def exiting_plugin(monkeypatch):
    real = plugins.entry_points
    monkeypatch.setattr(plugins, "entry_points",
                        lambda group: [*real(group=group), _EntryPoint()])
    plugins.reload()
    yield
    monkeypatch.undo()
    plugins.reload()


def test_plugin_that_exits_at_import_is_reported_by_name_and_skipped(exiting_plugin, caplog):
    with caplog.at_level(logging.WARNING, logger="tomopy_dlalign.plugins"):
        plugins.reload()
    assert "sys.exit(3)" in plugins.broken()["exits-at-import"]
    assert any("exits-at-import" in r.getMessage() for r in caplog.records)
    assert "mlem" in plugins.available("recon")


def test_commands_run_beside_a_plugin_that_exits_at_import(exiting_plugin, capsys):
    assert cli.main(["plugins"]) == 0
    assert "exits-at-import" in capsys.readouterr().out


def test_plugin_whose_hook_exits_is_reported_by_name():
    plugins.register(_ExitingHook(), "exits-in-hook")
    try:
        assert "sys.exit(4)" in plugins.broken()["exits-in-hook"]
        assert "mlem" in plugins.available("recon")
    finally:
        plugins.unregister("exits-in-hook")


@pytest.fixture
def scan(tmp_path):
    """A small raw scan: counts, flats and darks."""
    vol = simulate.phantom("nanoparticles", 16, 2, seed=0)
    prj, flat, dark = simulate.scan(vol, THETA, seed=0)
    path = tmp_path / "scan.h5"
    io.write_dx(path, prj, flat=flat, dark=dark, theta=THETA, state="raw")
    return path, prj, flat, dark


def test_missing_dask_jobqueue_is_bad_input_with_the_pip_hint(scan, tmp_path, capsys,
                                                              monkeypatch, one_line):
    pytest.importorskip("distributed")
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    argv = ["align", str(scan[0]), "-o", str(tmp_path / "out"), "--cluster", "slurm:2"]
    assert cli.main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("tomopy-dlalign align: error: ") and "pip install dask-jobqueue" in line


@pytest.mark.parametrize("which", ["swapped", "zero flats"])
def test_normalize_refuses_flats_without_response(scan, which):
    _, prj, flat, dark = scan
    flat, dark = (dark, flat) if which == "swapped" else (np.zeros_like(flat), dark)
    with pytest.raises(ValueError, match="flat must exceed dark"):
        normalize(prj, flat, dark)


def test_recon_of_swapped_flats_and_darks_is_one_line_and_exit_2(scan, tmp_path, capsys, one_line):
    path, prj, flat, dark = scan
    swapped = tmp_path / "swapped.h5"
    io.write_dx(swapped, prj, flat=dark, dark=flat, theta=THETA, state="raw")
    assert cli.main(["recon", str(swapped), "-o", str(tmp_path / "rec.h5")]) == 2
    assert "flat must exceed dark" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("theta", [np.full(12, 0.3), np.array([0.3])],
                         ids=["all angles equal", "one projection"])
@pytest.mark.parametrize("func", [mlem, fbp, align], ids=["mlem", "fbp", "align"])
def test_reconstruction_and_alignment_refuse_a_single_direction(func, theta):
    prj = np.ones((len(theta), 2, 16), np.float32)
    with pytest.raises(ValueError, match="theta must hold at least 2 different angles"):
        func(prj, theta, center=8)


def test_find_center_refuses_a_scan_without_rotation():
    with pytest.raises(ValueError, match="theta must hold at least 2 different angles"):
        find_center(np.ones((8, 2, 16), np.float32), np.full(8, 0.3))


def test_a_reprojection_at_one_angle_is_still_allowed():
    assert reproject(np.zeros((1, 16, 16), np.float32), [0.3]).shape == (1, 1, 16)


@pytest.mark.parametrize("num_iter", [0, -1])
def test_mlem_refuses_fewer_than_one_iteration(num_iter):
    with pytest.raises(ValueError, match="num_iter must be a positive integer"):
        mlem(np.ones((12, 1, 16), np.float32), THETA, center=8, num_iter=num_iter)


def test_recon_iters_0_is_one_line_and_exit_2(scan, tmp_path, capsys, one_line):
    argv = ["recon", str(scan[0]), "-o", str(tmp_path / "rec.h5"), "--iters", "0"]
    assert cli.main(argv) == 2
    assert "num_iter must be a positive integer" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "rec.h5").exists()


@pytest.mark.parametrize("kwargs, name", [({"attenuation": -1}, "attenuation"),
                                          ({"attenuation": np.nan}, "attenuation"),
                                          ({"flat_counts": 0}, "flat_counts"),
                                          ({"dark_counts": -5}, "dark_counts")])
def test_scan_simulation_refuses_negative_attenuation_and_counts(kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        simulate.scan(np.zeros((1, 16, 16), np.float32), THETA, **kwargs)


def test_simulate_negative_attenuation_is_one_line_and_exit_2(tmp_path, capsys, one_line):
    argv = ["simulate", "-o", str(tmp_path / "s.h5"), "--size", "16", "--nslice", "1",
            "--nproj", "4", "--attenuation", "-1"]
    assert cli.main(argv) == 2
    assert "attenuation must be a finite number, 0 or more" in one_line(capsys.readouterr().err)
