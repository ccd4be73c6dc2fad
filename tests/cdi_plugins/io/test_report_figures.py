"""The preparation figure reads at a glance: every panel on a labelled colour bar with
pixel axes, the mask's bar naming its two values, nothing overlapping."""

from __future__ import annotations

import numpy as np

from cdi_plugins import io, simulate
from cdi_plugins.io.report import save_prepare_report
from cdi_plugins.physics import farfield


def test_the_preparation_figure_has_colour_bars_and_pixel_axes(tmp_path, figures):
    intensity = np.abs(farfield(simulate.biological_object(64, seed=0))) ** 2
    frame = np.zeros((90, 80), np.float32)
    frame[10:74, 8:72] = np.random.default_rng(0).poisson(intensity * 1e7 / intensity.sum())
    beamstop = np.zeros(frame.shape, bool)
    beamstop[40:45, 38:43] = True
    save_prepare_report(io.prepare(frame, mask=beamstop), tmp_path / "pattern.png")
    (fig,) = figures.saved
    assert figures.bare_images(fig) == []
    assert figures.overlapping(fig) == []
    mask_bar = fig.axes[2].get_images()[0].colorbar
    assert [t.get_text() for t in mask_bar.ax.get_yticklabels()] == ["measured (0)",
                                                                      "missing (1)"]
