"""The ConvRe report's figures read at a glance: the gallery on one labelled colour bar
with pixel axes, legends beside the data, nothing overlapping."""

from __future__ import annotations

import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins.convre import report as convre_report


@pytest.fixture(scope="module")
def clustered():
    o = np.zeros((32, 32), complex)
    o[10:22, 12:20] = 1
    rng = np.random.default_rng(0)
    runs = np.stack([o + 0.05 * rng.standard_normal((32, 32)) for _ in range(8)])
    intensity = cdi.simulate.diffraction(o)
    return cdi.convre(runs, intensity=intensity, model="pixels", n_clusters=2), runs, intensity


def test_every_figure_has_colour_bars_with_units_and_legends_off_the_data(tmp_path, figures,
                                                                          clustered):
    result, runs, intensity = clustered
    convre_report.save_convre_report(result, runs, intensity, outdir=tmp_path)
    pca, gallery, prtf = figures.saved
    assert figures.bare_images(gallery) == []
    bars = {im.colorbar.ax.get_ylabel() for ax in gallery.axes for im in ax.get_images()
            if im.colorbar is not None}
    assert bars == {"amplitude (a.u.)"}
    for fig in (pca, gallery, prtf):
        assert figures.overlapping(fig) == []
    for fig in (pca, prtf):
        assert all(ax.get_legend() is not None for ax in fig.axes)
        assert figures.legends_on_data(fig) == []
