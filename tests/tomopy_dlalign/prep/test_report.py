"""The alignment report's figures carry their axes, units and colour bars, and read at a
glance at 181 angles: dx and dy apart, legends beside the data, nothing overlapping."""

import matplotlib
import numpy as np
import pytest

from tomopy_dlalign.prep.report import alignment_report
from tomopy_dlalign.prep.selfcheck import Verdict

matplotlib.use("Agg")

NPROJ = 181


@pytest.fixture
def stacks():
    rng = np.random.default_rng(0)
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False)
    stack = rng.random((NPROJ, 4, 16)).astype(np.float32)
    rec = rng.random((4, 16, 16)).astype(np.float32)
    truth = rng.uniform(-4, 4, (2, NPROJ))
    return theta, stack, rec, truth


def _report(tmp_path, stacks, with_truth=True, **kwargs):
    theta, stack, rec, truth = stacks
    est = truth + 0.1
    more = {"truth_dx": truth[0], "truth_dy": truth[1]} if with_truth else {}
    return alignment_report(tmp_path, theta, est[0], est[1], stack, stack, rec, rec,
                            **more, **kwargs)


def test_slices_png_has_pixel_axes_and_a_colour_bar_in_reconstruction_units(tmp_path,
                                                                          figures, stacks):
    files = _report(tmp_path, stacks)
    assert [f.name for f in files] == ["shifts.png", "sinograms.png", "slices.png"]
    assert (tmp_path / "slices.png").read_bytes()[:4] == b"\x89PNG"
    slices = figures.saved[2]
    images, bar = slices.axes[:2], slices.axes[2:]
    for ax in images:
        assert ax.get_xlabel() == "column (pixels)" and ax.get_ylabel() == "row (pixels)"
        assert len(ax.get_xticks()) > 1 and "slice 2 of 4" in ax.get_title()
    assert len(bar) == 1 and "1/pixel" in bar[0].get_ylabel()
    lo, hi = bar[0].get_ylim()
    assert lo == 0 and np.isclose(hi, np.percentile(stacks[2][2], 99.9))


def test_every_image_panel_has_a_colour_bar_and_axes_with_units(tmp_path, figures, stacks):
    _report(tmp_path, stacks)
    _, sinograms, slices = figures.saved
    for fig in (sinograms, slices):
        assert figures.bare_images(fig) == []
        assert figures.overlapping(fig) == []
    bar = [im.colorbar for ax in sinograms.axes for im in ax.get_images() if im.colorbar]
    assert len(bar) == 1 and "unitless" in bar[0].ax.get_ylabel()
    assert "ln(I/I_0)" in bar[0].ax.get_ylabel()
    for ax in sinograms.axes[:2]:
        assert ax.get_xlabel() == "detector column (pixels)"
        assert ax.get_ylabel() == "angle (degrees)"


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_lines()]


@pytest.mark.parametrize("with_truth", [True, False], ids=["truth", "no truth"])
def test_shifts_png_draws_dx_and_dy_apart_with_legends_beside_the_data(tmp_path, figures,
                                                                        stacks, with_truth):
    _report(tmp_path, stacks, with_truth, title="battery: ±4.0 px jitter")
    shifts = figures.saved[0]
    axes = _data_axes(shifts)
    names = ["dx (pixels)", "dy (pixels)"] + (["residual (pixels)"] if with_truth else [])
    assert [ax.get_ylabel().split("\n")[0] for ax in axes] == names
    assert axes[-1].get_xlabel() == "angle (degrees)"
    assert axes[0].get_title() == "battery: ±4.0 px jitter"
    assert all(ax.get_legend() is not None for ax in axes)
    assert figures.legends_on_data(shifts) == []
    for ax in axes[:2]:
        estimate = [ln for ln in ax.get_lines() if ln.get_label() == "estimated"][0]
        assert estimate.get_linestyle() == "None" and len(estimate.get_xdata()) == NPROJ
        true = [ln for ln in ax.get_lines() if ln.get_label().startswith("true")]
        assert len(true) == with_truth
        assert all(ln.get_linestyle() == "-" and ln.get_marker() in ("None", "")
                   for ln in true)
    assert figures.overlapping(shifts) == []
    assert not any("+-" in t.get_text() for t in shifts.findobj(matplotlib.text.Text))


def test_a_failed_self_check_is_a_red_banner_above_the_panels(tmp_path, figures, stacks):
    bad = Verdict(0.4, 0.5, 0.1, 0.09, False, "alignment could not show that it improved "
                  "the stack: the reprojection misfit rose")
    _report(tmp_path, stacks, verdict=bad, center_note="axis 8.00 px (given)")
    shifts = figures.saved[0]
    banner = [t for t in shifts.findobj(matplotlib.text.Text)
              if t.get_text().startswith("alignment could not show")]
    assert len(banner) == 1 and "axis 8.00 px (given)" in banner[0].get_text()
    assert banner[0].get_bbox_patch().get_facecolor()[:3] == pytest.approx(
        matplotlib.colors.to_rgb("#c0392b"))
    renderer = figures.renderer(shifts)
    box = banner[0].get_bbox_patch().get_window_extent(renderer)
    for ax in _data_axes(shifts):
        assert not box.overlaps(ax.get_tightbbox(renderer))
