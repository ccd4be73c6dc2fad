"""A user's pattern of any even size brought to the network's 64 x 64 input, and the
refinement figure's legend."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import cnn, simulate
from cdi_plugins.cnn import report as cnn_report
from cdi_plugins.cnn.inputs import estimate_oversampling, fit_pattern


def _small_particle(size: int, side: int = 14) -> np.ndarray:
    o = np.zeros((size, size), np.complex64)
    c = size // 2
    o[c - side // 2:c + side // 2, c - side // 3:c + side // 3] = 1
    return o


def test_a_pattern_at_oversampling_two_is_cropped_keeping_its_field_of_view():
    sim = simulate.simulate_pattern(simulate.crystal_object(128, seed=0), photons=None)
    fit = fit_pattern(sim.intensity)
    assert fit.binning == 1 and fit.crop == 64 and fit.pixel_scale == 2.0
    assert np.array_equal(fit.intensity, sim.intensity[32:96, 32:96])  # the centre kept
    # cropping keeps the oversampling: the particle fills the same share of the field
    assert estimate_oversampling(fit.intensity) == pytest.approx(
        estimate_oversampling(sim.intensity), rel=0.15)


def test_a_small_particle_in_a_wide_field_is_binned_to_oversampling_two_or_more():
    intensity = simulate.diffraction(_small_particle(256))
    over = estimate_oversampling(intensity)
    fit = fit_pattern(intensity)
    assert over > 8 and fit.binning >= 2 and fit.intensity.shape == (64, 64)
    # binning keeps the real-space pixel: the particle is as many pixels wide, in a field
    # `binning` times smaller, so it stays inside the network's central half
    assert fit.pixel_scale == pytest.approx(256 / fit.crop)
    assert 2 <= estimate_oversampling(fit.intensity) <= over / fit.binning * 1.2
    assert fit.intensity.sum() == pytest.approx(
        intensity[128 - 32 * fit.binning:128 + 32 * fit.binning,
                  128 - 32 * fit.binning:128 + 32 * fit.binning].sum(), rel=1e-5)


def test_crop_and_bin_can_be_asked_for():
    intensity = simulate.diffraction(_small_particle(128))
    assert fit_pattern(intensity, method="crop").binning == 1
    assert fit_pattern(intensity, method="bin").binning == 2
    with pytest.raises(ValueError, match="method must be one of"):
        fit_pattern(intensity, method="resize")


@pytest.mark.parametrize("shape", [(63, 64), (48, 48)])
def test_odd_or_small_patterns_name_the_commands_that_make_a_usable_one(shape):
    with pytest.raises(ValueError, match=r"cdi-plugins simulate -o pattern.cxi --size 64.*"
                                         r"cdi-plugins prepare FRAMES -o pattern.cxi --size 64"):
        cnn.predict(np.ones(shape, np.float32))


def test_predict_takes_any_even_size_and_says_what_it_did(caplog):
    sim = simulate.simulate_pattern(simulate.crystal_object(128, seed=2), photons=1e8, seed=2)
    info = {}
    with caplog.at_level("INFO", logger="cdi_plugins.cnn.inputs"):
        amp, phase = cnn.predict(sim.intensity, info=info)
    assert amp.shape == phase.shape == (32, 32)
    assert info["pixel_scale"] == 2.0 and info["binning"] == 1
    assert "cropped to its central 64x64" in caplog.text
    same, _ = cnn.predict(fit_pattern(sim.intensity).intensity)
    assert np.array_equal(amp, same)


def test_the_refinement_legend_quotes_the_last_point_of_its_curve(monkeypatch, tmp_path):
    seen = {}

    def keep(fig, path):
        ax = fig.axes[0]
        seen["labels"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["last"] = [line.get_ydata()[-1] for line in ax.get_lines()]

    monkeypatch.setattr(cnn_report, "save_figure", keep)
    # per-pattern curves whose arithmetic and geometric means differ tenfold at the end
    curves = np.stack([np.geomspace(1, 1e-4, 50), np.geomspace(1, 1e-2, 50)])
    cnn_report.plot_refinement(tmp_path / "r.png", {
        "curves": {"CNN start": curves}, "n_patterns": 2, "n_starts": 1,
        "cnn_below_random_mean": 1.0})
    label, last = seen["labels"][0], seen["last"][0]
    assert label == f"CNN start: final {last:.2g}"
    assert last == pytest.approx(1e-3)   # the geometric mean the curve draws
