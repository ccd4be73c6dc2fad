"""The command line reads every supported scan format and finds the axis it needs."""

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import cli, io, simulate

THETA = np.linspace(0, np.pi, 60, endpoint=False)


@pytest.fixture(scope="module")
def raw_scan():
    vol = simulate.phantom("cells", 48, 4, seed=1)
    prj, flat, dark = simulate.scan(vol, THETA, center=27.5, attenuation=0.05, seed=2)
    return vol * 0.05, prj, flat, dark


@pytest.mark.parametrize("fmt", ["nx", "tif", "h5"])
def test_recon_reads_each_format_and_finds_an_off_centre_axis(tmp_path, raw_scan, fmt):
    truth, prj, flat, dark = raw_scan
    path = tmp_path / f"scan.{fmt}"
    if fmt == "nx":
        io.write_nxtomo(path, prj, flat=flat, dark=dark, theta=THETA)
    elif fmt == "tif":
        io.write_tiff_stack(path, prj, theta=THETA, flat=flat, dark=dark)
    else:
        io.write_dx(path, prj, flat=flat, dark=dark, theta=THETA)
    out = tmp_path / "rec.h5"
    assert cli.main(["recon", str(path), "--algorithm", "fbp", "-o", str(out)]) == 0
    rec = io.read_dx(out)[0]
    # the scan's axis is 3.5 px right of the middle: the CLI finds it (no --center), and
    # reconstructs as the true axis does, far closer than the detector's middle would
    line = tda.minus_log(tda.normalize(prj, flat, dark))
    expected = tda.fbp(line, THETA, center=27.5)
    middle = tda.fbp(line, THETA, center=None)
    err = np.linalg.norm(rec - expected) / np.linalg.norm(expected)
    assert err < 0.1
    assert err < 0.25 * np.linalg.norm(middle - expected) / np.linalg.norm(expected)


def test_center_option_takes_a_number_auto_or_file_and_refuses_words(tmp_path, raw_scan, capsys):
    _, prj, flat, dark = raw_scan
    path = tmp_path / "scan.h5"
    io.write_dx(path, prj, flat=flat, dark=dark, theta=THETA)
    assert cli.main(["recon", str(path), "--center", "27.5", "-o",
                     str(tmp_path / "a.h5")]) == 0
    assert cli.main(["recon", str(path), "--center", "auto", "-o",
                     str(tmp_path / "b.h5")]) == 0
    with pytest.raises(SystemExit):
        cli.main(["recon", str(path), "--center", "middle", "-o", str(tmp_path / "c.h5")])
    assert "a number of pixels, 'auto' or 'file'" in capsys.readouterr().err
