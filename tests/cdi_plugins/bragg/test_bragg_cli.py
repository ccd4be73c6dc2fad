"""``cdi-plugins bragg`` on a 3D phasing result file."""

import numpy as np
import pytest

from cdi_plugins import io
from cdi_plugins.bragg import read_bragg
from cdi_plugins.bragg.postprocess import THRESHOLD
from cdi_plugins.cli import bragg as bragg_cli
from cdi_plugins.cli import main
from cdi_plugins.phasing.engine import PhasingResult
from cdi_plugins.simulate import crystal_object_3d

GEOMETRY = ["--energy", "9000", "--d-spacing", "2.338e-10", "--distance", "1",
            "--pixel-size", "55e-6", "--rocking-step", "0.005"]


@pytest.fixture()
def result_file(tmp_path):
    obj = crystal_object_3d(16, seed=2)[None]
    res = PhasingResult(objects=obj, supports=np.abs(obj) > 0.5, chi2=np.ones((1, 3)),
                        schedule="ER**3")
    path = tmp_path / "result.h5"
    io.write_result(path, res)
    return path


def test_the_parser_copy_of_the_threshold_is_the_librarys():
    assert bragg_cli.THRESHOLD == THRESHOLD


def test_bragg_writes_strain_and_report(result_file, tmp_path, capsys):
    out, report = tmp_path / "strain.h5", tmp_path / "report"
    assert main(["bragg", str(result_file), *GEOMETRY, "--orthogonal", "-o", str(out),
                 "--report", str(report)]) == 0
    back = read_bragg(out)
    assert back.frame == "lab" and back.strain is not None
    assert back.geometry.energy == 9000 and back.parameters["run"] == 0
    assert (report / "bragg.png").exists()
    assert "|strain| <=" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:                       # exists: refused
        main(["bragg", str(result_file), "-o", str(out)])
    assert exit_.value.code == 2


@pytest.mark.parametrize("argv, words", [
    (["--energy", "9000", "--d-spacing", "2.338e-10", "--pixel-size", "55e-6",
      "--rocking-step", "0.005"], "--distance is missing"),
    (["--orthogonal"], "--orthogonal needs the geometry"),
])
def test_incomplete_geometry_is_refused_naming_the_option(result_file, tmp_path, capsys,
                                                           argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["bragg", str(result_file), *argv, "-o", str(tmp_path / "s.h5")])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err
