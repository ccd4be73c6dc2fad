"""prepare's detector corrections: dark frames subtracted, a flat field divided (its bad
pixels masked), a count threshold, their record in /process, and their refusals."""

from __future__ import annotations

import fabio
import numpy as np
import pytest
import tifffile

from cdi_plugins import io, simulate
from cdi_plugins.cli import main
from cdi_plugins.physics import farfield
from tomopy_dlalign.common.process import read_process

N = 64
SHAPE = (70, 76)


def _truth(photons=1e6) -> np.ndarray:
    """A noiseless pattern (no zeros, no hot pixels) on a detector larger than it."""
    inten = np.abs(farfield(simulate.biological_object(N, seed=0))) ** 2
    inten *= photons / inten.sum()
    frame = np.full(SHAPE, float(inten.min()))
    frame[3:3 + N, 5:5 + N] = inten
    return frame


def _gain(seed=1) -> np.ndarray:
    """A flat-field gain of mean exactly 1, 0.8 to 1.2."""
    g = np.random.default_rng(seed).uniform(0.8, 1.2, SHAPE)
    return g / g.mean()


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_dark_offset_and_a_flat_gain_are_removed_to_the_truth(reduce):
    rng = np.random.default_rng(0)
    signal = [_truth() * s for s in (0.5, 1.0, 1.5)]          # three frames of one pattern
    dark = 100 + 5 * rng.random(SHAPE)                          # offset, pixel by pixel
    darks = dark + np.array([-1.0, 0.0, 1.0])[:, None, None]    # three dark frames, mean dark
    gain = _gain()
    frames = np.stack([s * gain + dark for s in signal]).astype(np.float32)
    # a flood field of ~5000 counts: its scale is divided out, only the gain remains
    p = io.prepare(frames, dark=darks, flat=5000 * gain, reduce=reduce, centre=(35, 37))
    truth = np.sum(signal, axis=0) / (1 if reduce == "sum" else 3)
    assert not p.raw_mask.any()
    # to the float32 precision of the frames: a few parts in 1e8 of the brightest pixel
    np.testing.assert_allclose(p.raw, truth, rtol=0, atol=2e-7 * truth.max())
    # without the corrections the same frames are far from it
    plain = io.prepare(frames, reduce=reduce, centre=(35, 37))
    assert np.abs(plain.raw - truth).max() > 100


def test_the_threshold_zeroes_exactly_the_values_below_it():
    x = np.random.default_rng(0).uniform(0, 10, (40, 48)).astype(np.float32)
    x[5, 6], x[7, 8] = 4.0, np.nextafter(np.float32(4.0), np.float32(0))
    p = io.prepare(x, threshold=4.0, centre=(20, 24))
    assert not p.raw_mask.any()
    np.testing.assert_array_equal(p.raw, np.where(x < 4.0, 0, x))
    assert p.raw[5, 6] == 4.0 and p.raw[7, 8] == 0
    assert p.parameters["threshold"] == 4.0
    assert p.parameters["thresholded"] == int(((x > 0) & (x < 4.0)).sum())


def test_the_negative_values_a_dark_leaves_become_zeros_not_missing_pixels():
    x = np.random.default_rng(0).uniform(0, 10, (40, 48)).astype(np.float32)
    dark = np.full(x.shape, 3.0)
    p = io.prepare(x, dark=dark, centre=(20, 24))
    assert not p.raw_mask.any() and p.raw.min() == 0
    np.testing.assert_allclose(p.raw, np.maximum(x - 3.0, 0), atol=1e-6)
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0, got -1"):
        io.prepare(x, threshold=-1)


def test_a_flat_pixel_that_is_not_positive_and_finite_is_masked_not_infinite():
    truth = _truth()
    flat = _gain()
    bad = [(10, 10), (20, 30), (40, 50)]
    for (r, c), value in zip(bad, (0.0, -0.5, np.inf), strict=True):
        flat[r, c] = value
    p = io.prepare((truth * np.where(np.isfinite(flat), flat, 1)).astype(np.float32),
                   flat=flat, centre=(35, 37))
    assert np.isfinite(p.raw).all() and np.isfinite(p.intensity).all()
    assert [bool(p.raw_mask[rc]) for rc in bad] == [True, True, True]
    assert p.raw_mask.sum() == 3 and p.counts["flat"] == 3
    assert p.parameters["flat"]["masked"] == 3
    # the flat is normalised to its mean over the pixels it can correct
    scale = flat[np.isfinite(flat) & (flat > 0)].mean()
    np.testing.assert_allclose(p.raw[~p.raw_mask], (truth * scale)[~p.raw_mask], rtol=1e-6)


def test_nan_in_a_dark_or_flat_and_missing_files_are_refused(tmp_path):
    x = np.ones((3, 16, 20), np.float32)
    dark = np.zeros((16, 20))
    dark[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"dark \(<array>\) holds NaN at 1 pixel\(s\), the "
                                         r"first at \(2, 3\)"):
        io.prepare(x, dark=dark)
    with pytest.raises(ValueError, match=r"flat \(<array>\) holds NaN"):
        io.prepare(x, flat=np.where(dark == 0, 1.0, dark))
    with pytest.raises(FileNotFoundError, match=r"dark: detector file .*nope\.edf' does not"):
        io.prepare(x, dark=tmp_path / "nope.edf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"folder .*empty' holds no detector files"):
        io.prepare(x, flat=tmp_path / "empty")


def test_a_dark_or_flat_of_another_shape_is_refused_naming_both_shapes(tmp_path, capsys):
    x = np.ones((2, 16, 20), np.float32)
    with pytest.raises(ValueError, match=r"dark \(<array>\) has frames of shape \(16, 21\), "
                                         r"the frames to correct \(16, 20\)"):
        io.prepare(x, dark=np.zeros((16, 21)))
    with pytest.raises(ValueError, match=r"flat \(<array>\) has frames of shape \(20, 16\)"):
        io.prepare(x, flat=np.ones((3, 20, 16)))
    tifffile.imwrite(tmp_path / "frames.tif", x)
    tifffile.imwrite(tmp_path / "flat.tif", np.ones((20, 16), np.float32))
    with pytest.raises(SystemExit) as exc:
        main(["prepare", str(tmp_path / "frames.tif"), "--flat", str(tmp_path / "flat.tif"),
              "-o", str(tmp_path / "p.cxi")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "flat.tif) has frames of shape (20, 16), the frames to correct (16, 20)" in err
    assert not (tmp_path / "p.cxi").exists()


def test_the_command_applies_files_and_folders_and_records_what_it_applied(tmp_path, capsys):
    truth = _truth()
    gain = _gain()
    gain[12, 14] = 0                                   # a dead pixel of the flat
    dark = np.full(SHAPE, 50.0)
    frames = np.stack([truth * np.where(gain > 0, gain, 1) + dark] * 2).astype(np.float32)
    tifffile.imwrite(tmp_path / "frames.tif", frames, photometric="minisblack")
    tifffile.imwrite(tmp_path / "dark.tif", np.stack([dark] * 3).astype(np.float32),
                     photometric="minisblack")
    (tmp_path / "flats").mkdir()
    for k in range(2):
        fabio.edfimage.EdfImage(data=(1000 * gain).astype(np.float32)).write(
            str(tmp_path / "flats" / f"flat_{k}.edf"))
    (tmp_path / "flats" / "notes.txt").write_text("not a frame")
    out = tmp_path / "pattern.cxi"
    assert main(["prepare", str(tmp_path / "frames.tif"), "--dark", str(tmp_path / "dark.tif"),
                 "--flat", str(tmp_path / "flats"), "--threshold", "2", "--centre", "35,37",
                 "-o", str(out)]) == 0
    step = read_process(out).step("prepare")
    rec = step.parameters
    assert rec["dark"]["sources"] == [str(tmp_path / "dark.tif")]
    assert rec["dark"]["shape"] == [3, *SHAPE] and rec["dark"]["mean"] == pytest.approx(50)
    assert rec["flat"]["sources"] == [str(tmp_path / "flats" / f"flat_{k}.edf")
                                      for k in range(2)]
    assert rec["flat"]["shape"] == [2, *SHAPE] and rec["flat"]["masked"] == 1
    assert rec["threshold"] == 2.0 and rec["masked"]["flat"] == 1
    # the flat is normalised to its mean over its usable pixels
    full = 2 * truth * gain[gain > 0].mean()
    assert rec["thresholded"] == int(((full > 0) & (full < 2) & (gain > 0)).sum())
    intensity, mask = io.read_cxi(out)
    assert np.isfinite(intensity).all()
    (y0, x0), n = rec["crop_origin"], intensity.shape[0]
    expect = np.where(full < 2, 0, full)[y0:y0 + n, x0:x0 + n]
    assert mask.sum() == (gain[y0:y0 + n, x0:x0 + n] == 0).sum() == 1
    np.testing.assert_allclose(intensity[~mask], expect[~mask], rtol=1e-5, atol=1e-3)


def test_without_corrections_the_record_says_so():
    p = io.prepare(_truth().astype(np.float32), centre=(35, 37))
    assert p.parameters["dark"] is None and p.parameters["flat"] is None
    assert p.parameters["threshold"] == 0.0 and p.parameters["thresholded"] == 0
    assert "dark" not in p.counts and "flat" not in p.counts


def _whole_detector(part: np.ndarray, fill: float, roi) -> np.ndarray:
    """``part`` placed at ``roi`` in a detector twice its size filled with ``fill``."""
    r0, r1, c0, c1 = roi
    whole = np.full((2 * SHAPE[0], 2 * SHAPE[1]), fill, part.dtype)
    whole[r0:r1, c0:c1] = part
    return whole


def test_calibrations_of_the_whole_detector_are_cut_to_the_frames_roi(tmp_path, capsys):
    roi = (10, 10 + SHAPE[0], 30, 30 + SHAPE[1])
    frames = np.stack([_truth() * _gain() + 7.0] * 2)
    bad = np.zeros(SHAPE, bool)
    bad[40, 50] = True
    dark, flat = np.full(SHAPE, 7.0), _gain()
    cut = io.prepare(frames, mask=bad, dark=dark, flat=flat, threshold=1.0)
    whole = io.prepare(frames, mask=_whole_detector(bad, True, roi),
                       dark=_whole_detector(dark, 1e6, roi),
                       flat=_whole_detector(flat, 0.0, roi), threshold=1.0, roi=roi)
    assert np.array_equal(whole.intensity, cut.intensity)
    assert np.array_equal(whole.mask, cut.mask)
    stack = np.stack([frames[0] * np.exp(-((k - 8) / 3) ** 2) for k in range(17)])
    cut3 = io.prepare_3d(stack, mask=bad, dark=dark, flat=flat)
    whole3 = io.prepare_3d(stack, mask=_whole_detector(bad, True, roi),
                           dark=_whole_detector(dark, 1e6, roi),
                           flat=_whole_detector(flat, 0.0, roi), roi=roi)
    assert np.array_equal(whole3.intensity, cut3.intensity)
    # the command line: --roi
    tifffile.imwrite(tmp_path / "f.tif", frames[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "dark.tif", _whole_detector(dark, 1e6, roi).astype(np.float32))
    out = tmp_path / "p.cxi"
    assert main(["prepare", str(tmp_path / "f.tif"), "--dark", str(tmp_path / "dark.tif"),
                 "--roi", *map(str, roi), "-o", str(out)]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["prepare", str(tmp_path / "f.tif"), "--dark", str(tmp_path / "dark.tif"),
              "-o", str(tmp_path / "q.cxi")])
    assert exc.value.code == 2 and "--roi ROW0 ROW1 COL0 COL1" in capsys.readouterr().err


@pytest.mark.parametrize("roi, word", [((0, 10, 0, 10), "does not cut"),
                                       ((5, 1, 0, 10), "roi must be"),
                                       ((0, 1, 2), "roi must be"),
                                       ((0, 200, 0, 76), "does not cut")])
def test_a_roi_that_does_not_fit_is_refused(roi, word):
    frames = np.stack([_truth()] * 2)
    with pytest.raises(ValueError, match=word):
        io.prepare(frames, dark=np.zeros((2 * SHAPE[0], 2 * SHAPE[1])), roi=roi)


def test_a_flat_pixel_far_below_the_median_is_masked_not_amplified():
    frames = np.stack([_truth()] * 2)
    flat = np.ones(SHAPE)
    flat[30, 40] = 1e-3            # a dead flat-field pixel: it would amplify 1000-fold
    flat[31, 40] = 0.02            # a weak one, above 1 % of the median: corrected
    p = io.prepare(frames, flat=flat, centre=(35.0, 37.0))
    q = io.prepare(frames, flat=np.ones(SHAPE), centre=(35.0, 37.0))
    lo = (35 - p.intensity.shape[0] // 2, 37 - p.intensity.shape[1] // 2)
    assert p.mask[30 - lo[0], 40 - lo[1]] and not q.mask[30 - lo[0], 40 - lo[1]]
    assert not p.mask[31 - lo[0], 40 - lo[1]]
    assert p.parameters["flat"]["masked"] == 1
