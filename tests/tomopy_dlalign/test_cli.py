import numpy as np

from tomopy_dlalign import cli, io


def test_simulate_then_recon_writes_a_reconstruction(tmp_path):
    scan = tmp_path / "scan.h5"
    assert cli.main(["simulate", str(scan), "--size", "32", "--nslice", "3",
                     "--nproj", "40"]) == 0
    out = tmp_path / "rec.h5"
    assert cli.main(["recon", str(scan), "-o", str(out), "--iters", "30"]) == 0
    rec = io.read_dx(out)[0]
    truth = io.read_dataset(scan, "/exchange/truth")
    assert rec.shape == (3, 32, 32)
    assert np.linalg.norm(rec - truth) / np.linalg.norm(truth) < 0.5


def test_recon_of_missing_file_fails_with_message(tmp_path, capsys):
    assert cli.main(["recon", str(tmp_path / "x.h5"), "-o", str(tmp_path / "y.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_info_and_plugins_list_backends(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out and "usable" in out
    assert cli.main(["plugins"]) == 0
    assert "mlem" in capsys.readouterr().out


def test_demo_aligns_and_reports_against_truth(tmp_path, capsys, figures):
    assert cli.main(["demo", "--out", str(tmp_path), "--size", "64", "--nslice", "32",
                     "--nproj", "60"]) == 0
    out = capsys.readouterr().out
    rmse = float(out.split("residual jitter RMSE ")[1].split()[0])
    assert rmse < 1.0
    for name in ("shifts.png", "sinograms.png", "slices.png"):
        assert (tmp_path / "report" / name).stat().st_size > 5000
    title = figures.saved[0].axes[0].get_title()
    assert title.startswith("battery: ±") and "+-" not in title
    shift_x = io.read_dataset(tmp_path / "aligned.h5", "/exchange/shift_x")
    assert shift_x.shape == (60,)


def test_align_command_writes_shifts_beside_the_data_and_a_report(tmp_path):
    assert cli.main(["demo", "--out", str(tmp_path), "--size", "64", "--nslice", "32",
                     "--nproj", "60"]) == 0
    out = tmp_path / "again.h5"
    assert cli.main(["align", str(tmp_path / "scan.h5"), "-o", str(out), "--report",
                     str(tmp_path / "rep")]) == 0
    truth = io.read_dataset(out, "/exchange/true_shift_x")  # kept from the input file
    est = io.read_dataset(out, "/exchange/shift_x")
    assert np.sqrt(np.mean((est - truth - np.mean(est - truth)) ** 2)) < 1.0
    assert (tmp_path / "rep" / "shifts.png").exists()
