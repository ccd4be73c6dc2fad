"""simulate -> align -> recon through the command line: every file records what it holds
(/process), and every command acts on it (no second normalisation of aligned data, no
second alignment without --force)."""

import logging

import h5py
import numpy as np
import pytest

from tomopy_dlalign import cli, io
from tomopy_dlalign.common.process import read_process

SCAN = ["--size", "64", "--nslice", "32", "--nproj", "90"]


def error(rec, truth) -> float:
    return float(np.linalg.norm(rec - truth) / np.linalg.norm(truth))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    d = tmp_path_factory.mktemp("chain")
    files = {name: d / f"{name}.h5" for name in ("scan", "aligned", "rec", "rec_raw")}
    assert cli.main(["simulate", "-o", str(files["scan"]), *SCAN, "--jitter", "3",
                     "--seed", "1", "--no-progress"]) == 0
    assert cli.main(["align", str(files["scan"]), "-o", str(files["aligned"]),
                     "--no-progress"]) == 0
    for src, out in (("aligned", "rec"), ("scan", "rec_raw")):
        assert cli.main(["recon", str(files[src]), "-o", str(files[out]), "--algorithm",
                         "fbp"]) == 0
    return files


def test_simulate_records_raw_counts_and_the_true_jitter(chain):
    rec = read_process(chain["scan"])
    assert rec.state == "raw" and [s.name for s in rec.steps] == ["simulate"]
    assert rec.steps[0].parameters["jitter"] == 3.0
    true_dx = io.read_dataset(chain["scan"], "/exchange/true_shift_x")
    assert true_dx.shape == (90,) and 2.0 < np.abs(true_dx).max() <= 3.0
    assert set(rec.steps[0].datasets) == {"truth", "true_shift_x", "true_shift_y"}


def test_align_records_the_aligned_state_with_its_shifts(chain):
    rec = read_process(chain["aligned"])
    assert rec.state == "aligned"
    assert [(s.name, s.state) for s in rec.steps] == [("simulate", "raw"), ("align", "aligned")]
    step = rec.step("align")
    assert {"shift_x", "shift_y"} <= set(step.datasets) and step.parameters["input_state"] == "raw"
    with h5py.File(chain["aligned"]) as f:
        dx = f["process/steps/01_align/shift_x"][()]
        true_dx = f["exchange/true_shift_x"][()]
    assert np.sqrt(np.mean((dx - true_dx - np.mean(dx - true_dx)) ** 2)) < 1.0


def test_recon_of_the_aligned_file_is_good_without_normalising_twice(chain):
    truth = io.read_dataset(chain["scan"], "/exchange/truth")
    aligned, raw = io.read_dx(chain["rec"])[0], io.read_dx(chain["rec_raw"])[0]
    # measured here: 0.44 aligned, 0.81 jittered (a second normalisation gave ~1, flat)
    assert error(aligned, truth) < 0.5
    assert error(aligned, truth) < 0.65 * error(raw, truth)
    rec = read_process(chain["rec"])
    assert rec.state == "reconstruction"
    assert [s.name for s in rec.steps] == ["simulate", "align", "recon"]
    assert rec.step("recon").parameters["input_state"] == "aligned"


def test_aligning_an_aligned_file_is_refused_unless_forced(chain, tmp_path, capsys, caplog):
    out = tmp_path / "again.h5"
    assert cli.main(["align", str(chain["aligned"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is aligned already" in err and "--force" in err and not out.exists()
    with caplog.at_level(logging.WARNING):
        assert cli.main(["align", str(chain["aligned"]), "-o", str(out), "--force",
                         "--iters", "1", "--no-polish", "--no-progress"]) == 0
    assert "aligning it again (--force)" in caplog.text
    assert [s.name for s in read_process(out).steps] == ["simulate", "align", "align"]


def test_recon_refuses_a_reconstruction_and_no_prep_still_forces(chain, tmp_path, capsys):
    assert cli.main(["recon", str(chain["rec"]), "-o", str(tmp_path / "r.h5")]) == 2
    assert "holds a reconstruction" in capsys.readouterr().err
    # --no-prep takes the raw counts as line integrals: a different (meaningless) volume,
    # which shows it overrides what the file records
    out = tmp_path / "forced.h5"
    assert cli.main(["recon", str(chain["scan"]), "-o", str(out), "--algorithm", "fbp",
                     "--no-prep"]) == 0
    counts = io.read_dx(out)[0]
    assert counts.max() > 100 * io.read_dx(chain["rec_raw"])[0].max()
    assert read_process(out).step("recon").parameters["prep"] is False


def test_a_file_without_a_record_is_normalised_as_raw_and_says_so(chain, tmp_path, caplog):
    bare = tmp_path / "bare.h5"
    with h5py.File(chain["scan"]) as src, h5py.File(bare, "w") as f:
        for name in ("data", "data_white", "data_dark", "theta"):
            src.copy(src[f"exchange/{name}"], f.require_group("exchange"), name=name)
    with caplog.at_level(logging.INFO):
        assert cli.main(["recon", str(bare), "-o", str(tmp_path / "r.h5"), "--algorithm",
                         "fbp"]) == 0
    assert "treating its data as raw" in caplog.text
    np.testing.assert_allclose(io.read_dx(tmp_path / "r.h5")[0], io.read_dx(chain["rec_raw"])[0],
                               rtol=1e-5, atol=1e-6)


def test_simulate_refuses_jitter_beyond_a_quarter_of_the_width(tmp_path, capsys):
    assert cli.main(["simulate", "-o", str(tmp_path / "s.h5"), "--size", "32",
                     "--jitter", "20"]) == 2
    assert "--jitter must be between 0 and a quarter of --size" in capsys.readouterr().err
