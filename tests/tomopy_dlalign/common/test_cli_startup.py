"""--help and argument errors answer at once: neither command line imports torch, NumPy,
h5py or the other heavy libraries before a command runs (STYLE.md rule 15), so that
`tomopy-dlalign --help`, `cdi-plugins --help`, every sub-command's help and a usage
error each take well under half a second of CPU."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cdi_plugins.cli as cdi_cli
from tomopy_dlalign import cli as tda_cli

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "numpy", "scipy", "h5py", "dask", "distributed", "matplotlib", "astra",
         "skimage", "tifffile")
CPU_SECONDS = 0.5

# run as the console scripts run (tomopy_dlalign.common.launch), then report what the
# process imported and the CPU it took, interpreter start included
CHILD = """
import json, os, resource, sys
from tomopy_dlalign.common import launch
sys.argv = [os.environ["PROG"], *json.loads(os.environ["ARGV"])]
main = launch.tomopy_dlalign_main if sys.argv[0] == "tomopy-dlalign" else launch.cdi_plugins_main
try:
    code = main()
except SystemExit as exc:
    code = exc.code
use = resource.getrusage(resource.RUSAGE_SELF)
with open(os.environ["REPORT"], "w") as f:
    json.dump({"code": code, "cpu": use.ru_utime + use.ru_stime,
               "heavy": sorted(m for m in json.loads(os.environ["HEAVY"]) if m in sys.modules)}, f)
"""


def _paths(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from _paths(sub, (*path, name))


def _run(prog: str, argv: list[str], tmp_path: Path) -> dict:
    report = tmp_path / "report.json"
    env = {**os.environ, "PROG": prog, "ARGV": json.dumps(argv), "REPORT": str(report),
           "HEAVY": json.dumps(HEAVY)}
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert report.exists(), done.stderr
    return json.loads(report.read_text()) | {"stdout": done.stdout, "stderr": done.stderr}


CASES = [("tomopy-dlalign", []), ("cdi-plugins", [])]
CASES += [("tomopy-dlalign", list(p)) for p in _paths(tda_cli.build_parser())]
CASES += [("cdi-plugins", list(p)) for p in _paths(cdi_cli.build_parser())]


@pytest.mark.parametrize("prog, path", CASES, ids=[" ".join([p, *c]) for p, c in CASES])
def test_help_imports_no_heavy_library(tmp_path, prog, path):
    res = _run(prog, [*path, "--help"], tmp_path)
    assert res["code"] == 0 and "usage:" in res["stdout"], res["stderr"]
    assert res["heavy"] == [], f"{prog} {' '.join(path)} --help imported {res['heavy']}"
    assert res["cpu"] < CPU_SECONDS, res["cpu"]


@pytest.mark.parametrize("prog, argv", [
    ("tomopy-dlalign", ["align"]),                              # a missing argument
    ("tomopy-dlalign", ["recon", "scan.h5", "-o", "r.h5", "--iters", "many"]),
    ("tomopy-dlalign", ["bogus"]),
    ("cdi-plugins", ["phase"]),
    ("cdi-plugins", ["cnn", "train", "data.h5", "--epochs", "x"]),
    ("cdi-plugins", ["phase", "p.cxi", "--constraint", "sideways"]),
])
def test_an_argument_error_imports_no_heavy_library(tmp_path, prog, argv):
    res = _run(prog, argv, tmp_path)
    assert res["code"] == 2 and "error:" in res["stderr"], res
    assert res["heavy"] == [], f"{prog} {' '.join(argv)} imported {res['heavy']}"
    assert res["cpu"] < CPU_SECONDS, res["cpu"]


def test_a_command_that_runs_does_import_what_it_needs(tmp_path):
    # the same probe sees the libraries once a command runs: the tests above can fail
    res = _run("tomopy-dlalign", ["info"], tmp_path)
    assert res["code"] == 0 and {"torch", "numpy", "h5py"} <= set(res["heavy"])
