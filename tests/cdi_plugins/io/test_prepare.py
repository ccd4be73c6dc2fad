"""Detector frames to a phasing-ready pattern: readers, masks, centre, crop, CXI, CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cdi_plugins import io, simulate
from cdi_plugins.cli import main
from cdi_plugins.physics import farfield

N = 64


def _pattern(delta=(0.0, 0.0), photons=1e7, seed=0):
    """A noisy 64x64 pattern whose zero frequency sits at (32 - dy, 32 - dx)."""
    obj = simulate.biological_object(N, seed=0)
    yy, xx = np.mgrid[0:N, 0:N]
    ramp = np.exp(-2j * np.pi * (delta[0] * yy + delta[1] * xx) / N)
    inten = np.abs(farfield(obj * ramp)) ** 2
    inten *= photons / inten.sum()
    return np.random.default_rng(seed).poisson(inten).astype(np.float32)


def _frame(delta=(0.3, -0.4), origin=(21, 14), shape=(110, 100)):
    """The pattern on a bigger detector: true zero frequency at origin + 32 - delta."""
    frame = np.zeros(shape, np.float32)
    frame[origin[0]:origin[0] + N, origin[1]:origin[1] + N] = _pattern(delta)
    truth = (origin[0] + N // 2 - delta[0], origin[1] + N // 2 - delta[1])
    return frame, truth


def test_friedel_centre_finds_an_off_centre_zero_frequency_to_half_a_pixel():
    frame, truth = _frame()
    beamstop = np.zeros(frame.shape, bool)
    beamstop[truth[0].__round__() - 3:truth[0].__round__() + 2,
             truth[1].__round__() - 2:truth[1].__round__() + 3] = True
    for mask in (None, beamstop):
        cy, cx = io.find_centre(frame, mask)
        assert abs(cy - truth[0]) < 0.5 and abs(cx - truth[1]) < 0.5


def test_prepare_centres_crops_to_an_fft_size_and_round_trips_through_cxi(tmp_path):
    frame, truth = _frame()
    p = io.prepare(frame)
    n = p.intensity.shape[0]
    assert p.intensity.shape == (n, n) and n % 2 == 0 and n == io.fft_size(n)
    y0, x0, _ = p.crop
    assert (y0 + n // 2, x0 + n // 2) == tuple(int(round(c)) for c in truth)
    io.write_cxi(tmp_path / "p.cxi", p.intensity, p.mask, parameters=p.parameters)
    back, m = io.read_cxi(tmp_path / "p.cxi")
    np.testing.assert_array_equal(back, p.intensity)
    np.testing.assert_array_equal(m, p.mask)


def test_prepare_masks_gaps_hot_pixels_saturation_and_keeps_measured_zeros():
    frame, truth = _frame()
    frame[:, 60] = 0  # a detector gap through the pattern
    frame[30, 40] = 5e6  # a hot pixel
    frame[50, 35] = 1e5  # a saturated pixel
    zeros_before = (frame == 0)
    p = io.prepare(frame[None].repeat(2, axis=0), saturation=2e5, size=48)
    assert p.counts["gaps"] >= frame.shape[0] and p.counts["hot"] >= 1
    assert p.raw_mask[30, 40] and p.raw_mask[50, 35] and p.raw_mask[:, 60].all()
    lone_zeros = zeros_before & ~p.raw_mask
    assert lone_zeros.sum() > 0.5 * (zeros_before.sum() - frame.shape[0])
    assert p.parameters["n_frames"] == 2


def test_binning_sums_pixels_and_a_block_with_a_missing_pixel_is_missing():
    i = np.arange(16, dtype=np.float32).reshape(4, 4)
    m = np.zeros((4, 4), bool)
    m[0, 0] = True
    b, bm = io.bin_pattern(i, m, 2)
    np.testing.assert_array_equal(b, [[0 + 1 + 4 + 5 - 0, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13,
                                       10 + 11 + 14 + 15]])
    np.testing.assert_array_equal(bm, [[True, False], [False, False]])


def test_friedel_fill_takes_the_mate_about_the_centre():
    i = _pattern()
    m = np.zeros_like(i, bool)
    m[20, 25] = True
    filled, fm = io.fill_friedel(np.where(m, 0, i), m)
    assert filled[20, 25] == i[N - 20, N - 25] and not fm[20, 25]


def test_edf_tiff_and_nexus_readers_read_back_the_frames_and_masks(tmp_path):
    import fabio
    import tifffile

    frames = np.random.default_rng(0).poisson(3, (2, 16, 20)).astype(np.uint32)
    fabio.edfimage.EdfImage(data=frames[0]).write(str(tmp_path / "a.edf"))
    tifffile.imwrite(tmp_path / "a.tif", frames)
    pixel_mask = np.zeros((16, 20), np.uint32)
    pixel_mask[3, 4] = 8
    with h5py.File(tmp_path / "a.nxs", "w") as f:
        f["entry/instrument/detector/data"] = frames
        f["entry/instrument/detector/pixel_mask"] = pixel_mask
    np.testing.assert_array_equal(io.read_frames(tmp_path / "a.edf").data[0], frames[0])
    np.testing.assert_array_equal(io.read_frames(tmp_path / "a.tif").data, frames)
    nx = io.read_frames(tmp_path / "a.nxs")
    np.testing.assert_array_equal(nx.data, frames)
    assert nx.mask.sum() == 1 and nx.mask[3, 4]
    both = io.read_frames([tmp_path / "a.edf", tmp_path / "a.tif"])
    assert both.data.shape == (3, 16, 20)


def test_bad_detector_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.edf"):
        io.read_frames(tmp_path / "nope.edf")
    (tmp_path / "junk.edf").write_bytes(b"not an edf file at all")
    with pytest.raises(ValueError, match="junk.edf"):
        io.read_frames(tmp_path / "junk.edf")
    (tmp_path / "x.xyz").write_bytes(b"1")
    with pytest.raises(ValueError, match="unknown detector file type"):
        io.read_frames(tmp_path / "x.xyz")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["a"] = np.zeros(3)
        f["b"] = np.zeros(4)
    with pytest.raises(KeyError, match="no detector frames"):
        io.read_frames(tmp_path / "empty.h5")
    with pytest.raises(ValueError, match="does not fit"):
        io.prepare(_frame()[0], size=200)


def test_prepare_command_writes_the_pattern_and_its_figure(tmp_path, capsys):
    import tifffile

    frame, truth = _frame()
    tifffile.imwrite(tmp_path / "frames.tif", frame)
    out = tmp_path / "pattern.cxi"
    assert main(["prepare", str(tmp_path / "frames.tif"), "-o", str(out), "--report"]) == 0
    assert out.exists() and (tmp_path / "pattern.png").stat().st_size > 10_000
    intensity, mask = io.read_cxi(out)
    assert intensity.shape[0] % 2 == 0
    assert "centre" in capsys.readouterr().out
