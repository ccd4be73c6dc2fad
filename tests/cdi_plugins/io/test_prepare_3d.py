"""Rocking-curve scans to a 3D pattern: frames read in scan order and corrected one by one
(dark, flat), masked in 3D, centred (within half a voxel of the truth), cropped to sizes
with prime factors 2, 3 and 5 with the centre on the array's centre, the scan's SPEC
positions recorded; the command end to end with --scan, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cdi_plugins import io
from cdi_plugins.cli import main
from tomopy_dlalign.common.process import read_process

DETECTOR = (30, 44, 48)            # frames, rows, columns of the scan
PATTERN = (24, 32, 32)             # the pattern inside it
OFFSET = (3, 5, 9)                 # where the pattern's first voxel lies in the scan


def _pattern(seed: int = 0, shift=(0.0, 0.0, 0.0), real: bool = False,
             photons: float = 1e7) -> np.ndarray:
    """The noiseless 3D pattern of a smooth crystal filling about a third of each axis,
    centred on ``PATTERN // 2 + shift`` (a phase ramp); strained (complex) unless ``real``."""
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.arange(n) - n // 2 for n in PATTERN], indexing="ij")
    radii = rng.uniform(3.0, 4.0, 3)
    r2 = sum((a / r) ** 2 for a, r in zip(axes, radii, strict=True))
    obj = np.exp(-r2 ** 2) * (1 + 0.3 * rng.random(PATTERN))
    if not real:
        obj = obj * np.exp(1j * 0.8 * np.sin(axes[0] / 3.0 + axes[1] / 4.0))   # strain
    ramp = sum(s * a / n for s, a, n in zip(shift, axes, PATTERN, strict=True))
    field = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(obj * np.exp(2j * np.pi * ramp))))
    inten = np.abs(field) ** 2
    return inten * photons / inten.sum()


def _scan_volume(pattern: np.ndarray) -> np.ndarray:
    """The pattern in a larger scan, on a floor of its smallest value (no zeros)."""
    volume = np.full(DETECTOR, float(pattern.min()))
    volume[tuple(slice(o, o + n) for o, n in zip(OFFSET, PATTERN, strict=True))] = pattern
    return volume


def _true_centre(shift=(0.0, 0.0, 0.0)) -> tuple[float, ...]:
    return tuple(o + n // 2 + s for o, n, s in zip(OFFSET, PATTERN, shift, strict=True))


def _gain(seed: int = 1) -> np.ndarray:
    g = np.random.default_rng(seed).uniform(0.8, 1.2, DETECTOR[1:])
    return g / g.mean()


def _write_frames(folder, frames) -> None:
    """One TIFF per frame, numbered without zero padding (frame_2 before frame_10)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames):
        tifffile.imwrite(folder / f"frame_{k}.tif", np.asarray(frame, np.float32))


def _spec_text(number: int, positions, motor: str = "eta") -> str:
    lines = ["#F sample.spec", "#E 1700000000", "#O0 Two Theta  eta  Chi", "#o0 tth eta chi",
             "", f"#S {number}  ascan  {motor} {positions[0]:g} {positions[-1]:g} "
             f"{len(positions) - 1} 1", "#P0 35.5 17.2 0.5", "#N 3",
             f"#L {motor}  Monitor  Detector"]
    lines += [f"{p:.5f} 1000 {10 + k}" for k, p in enumerate(positions)]
    return "\n".join(lines) + "\n"


def _detector_scan(tmp_path, seed: int = 0):
    """A scan folder of TIFF frames with a dark offset and an uneven gain, its dark and flat
    files and the truth."""
    rng = np.random.default_rng(seed)
    truth = _scan_volume(_pattern(seed))
    dark = 100 + 5 * rng.random(DETECTOR[1:])
    gain = _gain()
    _write_frames(tmp_path / "S3", truth * gain + dark)
    tifffile.imwrite(tmp_path / "dark.tif",
                     np.stack([dark - 1, dark, dark + 1]).astype(np.float32),
                     photometric="minisblack")
    tifffile.imwrite(tmp_path / "flat.tif", (5000 * gain).astype(np.float32))
    return truth


def _crop(volume: np.ndarray, p) -> np.ndarray:
    return volume[tuple(slice(o, o + n) for o, n in zip(p.origin, p.intensity.shape,
                                                      strict=True))]


def test_frames_with_a_dark_and_a_flat_give_back_the_known_pattern(tmp_path):
    truth = _detector_scan(tmp_path)
    p = io.prepare_3d(tmp_path / "S3", dark=tmp_path / "dark.tif", flat=tmp_path / "flat.tif",
                      centre=_true_centre())
    assert p.parameters["sources"][:3] == [str(tmp_path / "S3" / f"frame_{k}.tif")
                                           for k in range(3)]
    assert not p.mask.any() and p.intensity.dtype == np.float32
    # float32 frames, float32 arithmetic: a few parts in 1e7 of the brightest voxel
    np.testing.assert_allclose(p.intensity, _crop(truth, p), rtol=0, atol=1e-6 * truth.max())
    assert p.parameters["dark"]["shape"] == [3, *DETECTOR[1:]]
    assert p.parameters["flat"]["masked"] == 0 and p.parameters["dimensions"] == 3
    plain = io.prepare_3d(tmp_path / "S3", centre=_true_centre())
    assert np.abs(plain.intensity - _crop(truth, p)).max() > 50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_3d_centre_of_a_known_pattern_is_found_within_half_a_voxel(seed):
    shift = tuple(np.random.default_rng(seed).uniform(-1.5, 1.5, 3))
    truth = _true_centre(shift)
    real = _scan_volume(_pattern(seed, shift, real=True))
    for method in ("com", "friedel"):
        found = io.find_centre(real, method=method)
        assert np.abs(np.subtract(found, truth)).max() < 0.5, (method, found, truth)
    # a detector gap across every frame, off the centre: Friedel's estimate stays
    gap = np.zeros(DETECTOR, bool)
    gap[:, :, 30:32] = True
    found = io.find_centre(real, gap, method="friedel")
    assert np.abs(np.subtract(found, truth)).max() < 0.5, found
    # a strained crystal breaks Friedel's law: the centre of mass is the default
    strained = _scan_volume(_pattern(seed, shift))
    p = io.prepare_3d(strained)
    assert np.abs(np.subtract(p.centre, io.find_centre(strained, method="com"))).max() < 1e-6
    assert np.abs(np.subtract(p.centre, truth)).max() < 1.5


@pytest.mark.parametrize("binning", [1, (1, 2, 2)])
def test_cropping_to_fft_sizes_puts_the_centre_on_the_array_centre(binning):
    shift = (0.3, -0.2, 0.4)
    volume = _scan_volume(_pattern(3, shift, real=True))
    p = io.prepare_3d(volume, binning=binning)
    for n in p.intensity.shape:
        k = n
        for prime in (2, 3, 5):
            while k % prime == 0:
                k //= prime
        assert k == 1 and n % 2 == 0, p.intensity.shape
    found = io.find_centre(p.intensity, method="friedel")
    middle = [n // 2 for n in p.intensity.shape]
    assert np.abs(np.subtract(found, middle)).max() < 0.5, (found, middle)
    # the crop is the largest that fits: one more FFT size would leave the scan
    assert p.binning == tuple(np.broadcast_to(binning, 3))
    assert p.parameters["size"] == list(p.intensity.shape)


def test_gaps_hot_pixels_spikes_and_bad_values_are_masked_in_3d():
    volume = _scan_volume(_pattern(4)).astype(np.float32)
    volume[:, :, 40] = 0                      # a detector gap: zero in every frame
    volume[:, 20, 12] = 1e6                   # a hot pixel: bright in every frame
    volume[14, 25, 30] = 1e6                  # a cosmic ray: one voxel of one frame
    volume[9, 22, 22] = np.nan                # a bad value in one frame
    volume[17, 21, 24] = 7e5                  # saturated in one frame
    p = io.prepare_3d(volume, saturation=5e5, centre=_true_centre())
    z0, y0, x0 = p.origin
    assert p.mask[:, :, 40 - x0].all() and p.mask[:, 20 - y0, 12 - x0].all()
    for z, y, x in ((14, 25, 30), (9, 22, 22), (17, 21, 24)):
        assert p.mask[z - z0, y - y0, x - x0], (z, y, x)
    # their neighbours in the scan stay measured
    assert not p.mask[15 - z0, 25 - y0, 30 - x0] and not p.mask[9 - z0, 22 - y0, 23 - x0]
    counts = p.counts
    assert counts["gaps"] == DETECTOR[0] * DETECTOR[1] and counts["hot"] == DETECTOR[0]
    assert counts["invalid"] == 1 and counts["saturated"] >= 1 and counts["spikes"] >= 1
    # the rest is the pattern, untouched
    assert (p.intensity[~p.mask] > 0).all()


def test_the_scan_gives_the_positions_of_the_frames_kept(tmp_path):
    positions = 17.2 + 0.004 * np.arange(DETECTOR[0])
    (tmp_path / "s.spec").write_text(_spec_text(3, positions))
    scan = io.read_spec_scan(tmp_path / "s.spec", 3)
    volume = _scan_volume(_pattern(5))
    p = io.prepare_3d(volume, scan=scan, binning=(2, 1, 1))
    z0, nz = p.origin[0], p.intensity.shape[0]
    kept = positions[z0:z0 + 2 * nz].reshape(nz, 2).mean(axis=1)
    np.testing.assert_allclose(p.positions, kept)
    record = p.parameters["scan"]
    assert record["motor"] == "eta" and record["scan"] == "3.1" and record["uniform"]
    assert record["step"] == pytest.approx(0.008) and record["motors"]["Two Theta"] == 35.5
    assert record["frames_kept"] == [z0, z0 + 2 * nz]
    with pytest.raises(ValueError, match=r"scan 3\.1 of .*s\.spec' has 30 points but frames "
                                         r"holds 29 frames"):
        io.prepare_3d(volume[:29], scan=scan)
    with pytest.raises(KeyError, match="'th' is not a column of scan 3.1"):
        io.prepare_3d(volume, scan=scan, motor="th")


def test_frames_of_different_shapes_and_bad_arguments_are_refused_by_name(tmp_path):
    _write_frames(tmp_path / "S1", np.ones((9, 16, 16)))
    tifffile.imwrite(tmp_path / "S1" / "frame_9.tif", np.ones((16, 18), np.float32))
    with pytest.raises(ValueError, match=r"^frames: .*frame_9\.tif' has frames of shape "
                                         r"\(16, 18\), the first file \(16, 16\)"):
        io.prepare_3d(tmp_path / "S1")
    volume = _scan_volume(_pattern(6))
    with pytest.raises(ValueError, match=r"dark \(<array>\) has frames of shape \(44, 40\)"):
        io.prepare_3d(volume, dark=np.zeros((44, 40)))
    with pytest.raises(ValueError, match=r"mask must have the frames' shape \(44, 48\) or "
                                         r"\(30, 44, 48\)"):
        io.prepare_3d(volume, mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="at least 8 frames, got 4"):
        io.prepare_3d(volume[:4])
    with pytest.raises(ValueError, match=r"size 40 \(x binning 1\) along axis 0 does not fit"):
        io.prepare_3d(volume, size=(40, 16, 16))
    with pytest.raises(ValueError, match=r"centre must be 'com', 'friedel' or \(frame, row, "):
        io.prepare_3d(volume, centre=(3.0, 4.0))


def test_the_3d_figure_shows_three_slices_on_one_labelled_scale(tmp_path, figures):
    positions = 17.2 + 0.004 * np.arange(DETECTOR[0])
    (tmp_path / "s.spec").write_text(_spec_text(3, positions))
    p = io.prepare_3d(_scan_volume(_pattern(7)), scan=io.read_spec_scan(tmp_path / "s.spec", 3))
    io.save_prepare_report(p, tmp_path / "slices.png")
    (fig,) = figures.saved
    assert figures.bare_images(fig) == [] and figures.overlapping(fig) == []
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3
    assert [ax.get_ylabel() for ax in panels] == ["row (pixels)", "frame (eta, 0.004 per frame)",
                                                  "frame (eta, 0.004 per frame)"]
    assert len({ax.get_images()[0].get_clim() for ax in panels}) == 1     # one scale


def test_the_command_prepares_a_scan_end_to_end(tmp_path, capsys, one_line):
    truth = _detector_scan(tmp_path)
    positions = 17.2 + 0.004 * np.arange(DETECTOR[0])
    (tmp_path / "sample.spec").write_text(_spec_text(2, positions[:5]) + "\n"
                                          + _spec_text(3, positions).split("\n\n", 1)[1])
    out, report = tmp_path / "bragg.cxi", tmp_path / "report"
    argv = ["prepare", str(tmp_path / "S3"), "--scan", "3", "--dark", str(tmp_path / "dark.tif"),
            "--white", str(tmp_path / "flat.tif"), "--centre", ",".join(map(str, _true_centre())),
            "-o", str(out), "--report", str(report)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "(frames x rows x columns)" in printed and "scan 3.1: eta step 0.004" in printed
    intensity, mask = io.read_cxi(out)
    assert intensity.ndim == 3 and mask.shape == intensity.shape and not mask.any()
    params = read_process(out).step("prepare").parameters
    assert params["scan"]["motor"] == "eta" and params["scan"]["scan"] == "3.1"
    assert params["dark"]["sources"] == [str(tmp_path / "dark.tif")]
    assert params["flat"]["sources"] == [str(tmp_path / "flat.tif")]
    z0 = params["crop_origin"][0]
    np.testing.assert_allclose(params["scan"]["positions"],
                               positions[z0:z0 + intensity.shape[0]])
    origin = params["crop_origin"]
    expected = truth[tuple(slice(o, o + n) for o, n in zip(origin, intensity.shape,
                                                            strict=True))]
    np.testing.assert_allclose(intensity, expected, rtol=0, atol=1e-6 * truth.max())
    assert (report / "bragg.png").stat().st_size > 10_000
    # an existing output is refused before any work
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "exists; pass --overwrite" in one_line(capsys.readouterr().err)
    # a scan the SPEC file does not hold, named with its option
    with pytest.raises(SystemExit):
        main([*argv[:3], "9", *argv[4:], "--overwrite"])
    line = one_line(capsys.readouterr().err)
    assert "--scan 9: scan 9 is not in" in line and "holds scan(s) 2, 3" in line
    # frames of different shapes, named
    tifffile.imwrite(tmp_path / "S3" / "frame_30.tif", np.ones((10, 12), np.float32))
    with pytest.raises(SystemExit):
        main([*argv, "--overwrite"])
    assert "frames: " in one_line(capsys.readouterr().err)


def test_without_scan_the_command_still_sums_and_3d_stacks(tmp_path, capsys):
    _write_frames(tmp_path / "S1", _scan_volume(_pattern(8)))
    assert main(["prepare", str(tmp_path / "S1"), "-o", str(tmp_path / "sum.cxi")]) == 0
    assert io.read_cxi(tmp_path / "sum.cxi")[0].ndim == 2
    assert main(["prepare", str(tmp_path / "S1"), "--3d", "--binning", "2", "--size", "16",
                 "-o", str(tmp_path / "stack.cxi")]) == 0
    intensity, mask = io.read_cxi(tmp_path / "stack.cxi")
    # --size and --binning act on the detector plane, the frames keep the largest size
    assert intensity.shape == (24, 16, 16) and mask.shape == intensity.shape
    assert main(["prepare", str(tmp_path / "S1"), "--3d", "--frame-binning", "2",
                 "-o", str(tmp_path / "binned.cxi")]) == 0
    assert read_process(tmp_path / "binned.cxi").step("prepare").parameters["binning"] \
        == [2, 1, 1]
    with pytest.raises(SystemExit):
        main(["prepare", str(tmp_path / "S1"), "--frame-binning", "2", "-o",
              str(tmp_path / "x.cxi")])
    assert "--frame-binning is for a 3D pattern" in capsys.readouterr().err
    assert "scan" not in capsys.readouterr().out.split("missing")[-1]


def test_a_3d_pattern_file_is_phased_in_3d_by_the_command(tmp_path):
    """A CXI file whose mask has the data's 3D shape (as ``prepare --scan`` writes it) is
    one 3D pattern: ``cdi-plugins phase`` phases it as a volume, not as a stack."""
    import h5py

    from cdi_plugins import simulate

    obj = simulate.crystal_object_3d(16, seed=0)
    sim = simulate.simulate_pattern(obj, photons=1e8, seed=0)
    mask = np.zeros(sim.intensity.shape, bool) if sim.mask is None else sim.mask
    pattern, out = tmp_path / "crystal.cxi", tmp_path / "phased.h5"
    io.write_cxi(pattern, sim.intensity, mask=mask)
    assert main(["phase", str(pattern), "--runs", "2", "--iters", "60", "--algorithm", "er",
                 "-o", str(out)]) == 0
    with h5py.File(out, "r") as f:
        shapes = [d.shape for d in _datasets(f) if d.dtype.kind == "c"]
    assert any(s[-3:] == sim.intensity.shape for s in shapes), shapes


def _datasets(group):
    import h5py

    found = []
    group.visititems(lambda _, o: found.append(o) if isinstance(o, h5py.Dataset) else None)
    return found
