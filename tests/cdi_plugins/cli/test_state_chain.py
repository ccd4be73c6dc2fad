"""simulate (or prepare) -> phase -> cluster through cdi-plugins: each file records what it
holds and the steps that made it (/process), and each command checks what it is given."""

import numpy as np
import pytest

from cdi_plugins import cli, simulate
from cdi_plugins.physics import farfield
from tomopy_dlalign.common.process import read_process

PHASE = ["--algorithm", "(HIO**30*ER**10)**2", "--runs", "8", "--constraint", "positive",
         "--no-progress"]


def run(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # cdi-plugins ends a failed command as argparse does
        return exc.code


def chain_of(path) -> list[tuple[str, str]]:
    return [(s.name, s.state) for s in read_process(path).steps]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cdi_chain")
    f = {"pattern": d / "pattern.cxi", "result": d / "result.h5", "clustered": d / "c.h5"}
    assert run(["simulate", "-o", str(f["pattern"]), "--size", "64", "--photons", "1e7",
                "--seed", "2"]) == 0
    assert run(["phase", str(f["pattern"]), *PHASE, "-o", str(f["result"])]) == 0
    assert run(["cluster", str(f["result"]), "-o", str(f["clustered"]), "--clusters", "2",
                "--features", "pixels"]) == 0
    return f


def test_each_step_of_simulate_phase_cluster_is_recorded(files):
    assert read_process(files["pattern"]).state == "pattern"
    assert chain_of(files["pattern"]) == [("simulate", "pattern")]
    assert chain_of(files["result"]) == [("simulate", "pattern"), ("phase", "phased")]
    assert chain_of(files["clustered"]) == [("simulate", "pattern"), ("phase", "phased"),
                                            ("cluster", "phased")]
    rec = read_process(files["clustered"])
    assert rec.state == "phased"
    assert rec.step("simulate").parameters["size"] == 64
    assert rec.step("phase").input == str(files["pattern"])
    assert rec.step("phase").parameters["schedule"].startswith("HIO(0.9)**30 * ER**10")
    assert rec.step("cluster").parameters["kept_cluster"] in (0, 1)


def test_cluster_wants_a_phasing_result_and_phase_a_pattern(files, tmp_path, capsys):
    assert run(["cluster", str(files["pattern"]), "-o", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "not a phasing result" in err and "cdi-plugins phase" in err
    from tomopy_dlalign import cli as tda_cli

    scan = tmp_path / "scan.h5"
    assert tda_cli.main(["simulate", "-o", str(scan), "--size", "16", "--nslice", "2",
                         "--nproj", "8"]) == 0
    assert run(["phase", str(scan), *PHASE]) == 2
    assert "(/process/state is 'raw'), not a diffraction pattern" in capsys.readouterr().err


def test_prepare_then_phase_records_both_steps(tmp_path):
    import tifffile

    obj = simulate.biological_object(64, seed=0)
    intensity = np.abs(farfield(obj)) ** 2
    frame = np.zeros((90, 80), np.float32)
    frame[10:74, 8:72] = np.random.default_rng(0).poisson(intensity * 1e7 / intensity.sum())
    tifffile.imwrite(tmp_path / "frames.tif", frame)
    pattern, result = tmp_path / "p.cxi", tmp_path / "r.h5"
    assert run(["prepare", str(tmp_path / "frames.tif"), "-o", str(pattern)]) == 0
    assert chain_of(pattern) == [("prepare", "pattern")]
    assert run(["phase", str(pattern), *PHASE, "--runs", "2", "-o", str(result)]) == 0
    assert chain_of(result) == [("prepare", "pattern"), ("phase", "phased")]
