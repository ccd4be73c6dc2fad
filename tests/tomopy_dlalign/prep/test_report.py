"""The alignment report's figures carry their axes, units and colour bar."""

import matplotlib
import numpy as np

from tomopy_dlalign.prep.report import alignment_report

matplotlib.use("Agg")


def test_slices_png_has_pixel_axes_and_a_colour_bar_in_reconstruction_units(tmp_path,
                                                                          monkeypatch):
    from matplotlib.figure import Figure

    saved, original = {}, Figure.savefig

    def keep(fig, path, *args, **kwargs):
        saved[str(path).rsplit("/", 1)[-1]] = fig
        return original(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    theta = np.linspace(0, np.pi, 8, endpoint=False)
    stack = np.random.default_rng(0).random((8, 4, 16)).astype(np.float32)
    rec = np.random.default_rng(1).random((4, 16, 16)).astype(np.float32)
    files = alignment_report(tmp_path, theta, np.zeros(8), np.zeros(8), stack, stack, rec,
                             rec)
    assert [f.name for f in files] == ["shifts.png", "sinograms.png", "slices.png"]
    assert (tmp_path / "slices.png").read_bytes()[:4] == b"\x89PNG"
    images, bar = saved["slices.png"].axes[:2], saved["slices.png"].axes[2:]
    for ax in images:
        assert ax.get_xlabel() == "column (pixels)" and ax.get_ylabel() == "row (pixels)"
        assert len(ax.get_xticks()) > 1 and "slice 2 of 4" in ax.get_title()
    assert len(bar) == 1 and "1/pixel" in bar[0].get_ylabel()
    lo, hi = bar[0].get_ylim()
    assert lo == 0 and np.isclose(hi, np.percentile(rec[2], 99.9))
