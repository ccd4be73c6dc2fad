"""The phasing report's figures read at a glance: the object's panels on labelled colour
bars with position axes in nm, legends beside the curves, nothing overlapping."""

from __future__ import annotations

import numpy as np

from cdi_plugins.phasing import report


def test_the_object_panels_have_colour_bars_and_axes_in_nm(tmp_path, figures):
    obj = np.zeros((48, 48), np.complex64)
    obj[14:30, 10:40] = np.exp(0.5j)
    report.plot_object(obj, np.abs(obj) > 0, tmp_path / "best.png", "best", pixel_nm=80.0)
    (fig,) = figures.saved
    assert figures.bare_images(fig) == []
    assert figures.overlapping(fig) == []
    images = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_xlabel() for ax in images] == ["x (nm)", "x (nm)"]
    bars = [im.colorbar.ax.get_ylabel() for ax in images for im in ax.get_images()]
    assert bars == ["amplitude (a.u.)", "phase (rad)"]


def test_the_prtf_and_chi2_legends_lie_beside_the_curves(tmp_path, figures):
    q = np.linspace(0, 0.5, 33)
    curve = np.exp(-q / 0.2)
    report.plot_prtf(q, {"PRTF": curve, "wPRTF": 0.9 * curve}, tmp_path / "p.png",
                     pixel_nm=40.0)
    chi2 = np.geomspace(1, 1e-3, 40)[None] * np.array([[1.0], [2.0], [3.0]])
    report.plot_chi2(chi2, tmp_path / "c.png", best=0)
    for fig in figures.saved:
        assert fig.axes[0].get_legend() is not None
        assert figures.legends_on_data(fig) == []
        assert figures.overlapping(fig) == []
