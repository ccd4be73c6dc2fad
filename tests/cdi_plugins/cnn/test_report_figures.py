"""The CNN report's figures read at a glance: every image on a labelled colour bar with
pixel axes, legends beside the data, "±" in plain text, nothing overlapping."""

from __future__ import annotations

import numpy as np

from cdi_plugins.cnn import report as cnn_report


def _particles(n=3, size=24):
    yy, xx = np.mgrid[:size, :size] - size / 2
    amp = np.stack([(np.hypot(yy, xx) < 5 + k).astype(np.float32) for k in range(n)])
    phase01 = (0.5 + 0.3 * np.sin(xx / 4))[None] * (amp > 0)
    field = amp * np.exp(2j * np.pi * phase01)
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(field), axes=(1, 2))) ** 2
    return intensity, amp, phase01


def test_the_gallery_and_a_prediction_have_colour_bars_and_pixel_axes(tmp_path, figures):
    intensity, amp, phase01 = _particles()
    cnn_report.plot_gallery(tmp_path / "g.png", intensity, amp, phase01, 0.9 * amp,
                            phase01, np.full(3, 0.01), "gallery")
    cnn_report.plot_prediction(intensity[0], amp[0], 2 * np.pi * phase01[0] - np.pi, None,
                               tmp_path / "p.png")
    gallery, prediction = figures.saved
    for fig in (gallery, prediction):
        assert figures.bare_images(fig) == []
        assert figures.overlapping(fig) == []
    # one bar for the patterns, one for both amplitude rows, one for both phase rows
    bars = [im.colorbar for ax in gallery.axes for im in ax.get_images() if im.colorbar]
    assert len(bars) == 3


def test_the_line_plots_keep_their_legends_off_the_data(tmp_path, figures):
    rng = np.random.default_rng(0)
    per = {k: rng.gamma(2, 0.01, 100) for k in ("chi2_modulus", "chi2_amplitude",
                                               "chi2_phase")}
    fits = {"CNN": {k: {"mean": 0.02, "shape": 2.0, "scale": 0.01} for k in per}}
    cnn_report.plot_histograms(tmp_path / "h.png", per, None, fits)
    curves = np.stack([np.geomspace(1, 1e-3, 30), np.geomspace(1, 1e-2, 30)])
    cnn_report.plot_refinement(tmp_path / "r.png", {
        "curves": {"CNN start": curves}, "n_patterns": 2, "n_starts": 1,
        "cnn_below_random_mean": 1.0})
    cnn_report.plot_training(tmp_path / "t.png", {"training": {"history": [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in (1, 2, 3)]}})
    for fig in figures.saved:
        assert figures.legends_on_data(fig) == []
        assert figures.overlapping(fig) == []
    ylabel = figures.saved[1].axes[0].get_ylabel()
    assert "±" in ylabel and "+-" not in ylabel
