"""Issue 25, second round, for cdi-plugins: Ctrl-C from the first instant, and refusals
that name the argument instead of NumPy's errors or a silently wrong run."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cdi_plugins import cli, phase_retrieval, random_start, simulate
from cdi_plugins.metrics import prtf

ROOT = Path(__file__).resolve().parents[2]
OBJ = np.zeros((16, 16), np.complex64)
OBJ[6:10, 5:11] = 1
I = (np.abs(np.fft.fftshift(np.fft.fft2(OBJ, norm="ortho"))) ** 2).astype(np.float32)


def run(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    return exc.value.code


def test_ctrl_c_while_the_command_line_imports_is_one_line_and_exit_130(tmp_path,
                                                                         interrupt_cli):
    code, err = interrupt_cli("cdi-plugins", ["simulate", "-o", "p.cxi", "--size", "1024"],
                              tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and err.strip() == "cdi-plugins: interrupted"


def test_phase_retrieval_refuses_a_negative_seed():
    with pytest.raises(ValueError, match="seed must be None or a whole number, 0 or more"):
        phase_retrieval(I, algorithm="er", n_iter=2, seed=-1, device="cpu")
    with pytest.raises(ValueError, match="seed must be"):
        random_start(I, seed=-1)


@pytest.mark.parametrize("reference", [99, -1, 1.5])
def test_prtf_refuses_a_reference_that_is_not_a_run(reference):
    with pytest.raises(ValueError, match="reference must be the index of a run, from 0 to 1"):
        prtf(np.stack([OBJ, OBJ]), I, reference=reference)


@pytest.mark.parametrize("kwargs, match", [
    ({"binning": 0}, r"binning must be one of \[1, 2, 4, 8, 16, 32\]"),
    ({"binning": 3}, r"binning must be one of"),
    ({"gaps": 1000}, r"gaps must be a whole number of pixels from 0 \(none\) to 12"),
    ({"gaps": -1}, r"gaps must be"),
])
def test_simulate_pattern_refuses_binning_and_gaps_out_of_range(kwargs, match):
    obj = simulate.biological_object(64, seed=0)
    with pytest.raises(ValueError, match=match):
        simulate.simulate_pattern(obj, photons=None, **kwargs)


@pytest.mark.parametrize("option, value, name", [("--binning", "0", "binning"),
                                                 ("--gaps", "1000", "gaps")])
def test_simulate_binning_and_gaps_out_of_range_are_one_line_and_exit_2(tmp_path, capsys,
                                                                        option, value, name,
                                                                        one_line):
    out = tmp_path / "p.cxi"
    assert run(["simulate", "-o", str(out), "--size", "64", option, value]) == 2
    assert f"simulate: error: {name} must be" in one_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.fixture
def pattern(tmp_path):
    path = tmp_path / "p.cxi"
    assert cli.main(["simulate", "-o", str(path), "--size", "64"]) == 0
    return path


def test_cnn_predict_refuses_cuda_on_a_machine_without_it(pattern, capsys, monkeypatch, one_line):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    capsys.readouterr()
    assert run(["cnn", "predict", str(pattern), "--device", "cuda"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("cdi-plugins cnn predict: error: device='cuda'") and "CUDA" in line


@pytest.mark.parametrize("command", [["cnn", "predict", "{pattern}"],
                                     ["train-features", "-o", "{tmp}/w.safetensors"]])
def test_negative_threads_is_one_line_and_exit_2(pattern, tmp_path, capsys, command, one_line):
    argv = [a.format(pattern=pattern, tmp=tmp_path) for a in command]
    capsys.readouterr()
    assert run([*argv, "--threads", "-1"]) == 2
    assert "--threads must be a number of threads, 0 or more, got -1" in one_line(
        capsys.readouterr().err)
