"""The PRTF and the Wiener filter stop at the last complete shell: the corner shells of the
array hold a handful of pixels (one in the last), whose noise made the wPRTF jump from 0
back to 0.5 at its end."""

from __future__ import annotations

import numpy as np
import pytest

from cdi_plugins import metrics, simulate
from cdi_plugins.metrics.fourier import shell_index, shell_sum
from cdi_plugins.physics import farfield, inverse_farfield


@pytest.fixture(scope="module")
def noisy():
    """A pattern whose outer shells hold a noise plateau (a background of 5 counts per
    pixel over a smooth object), and 8 runs that are the truth with a little noise."""
    obj = simulate.biological_object(64, seed=0)
    sim = simulate.simulate_pattern(obj, photons=1e6, seed=0)
    background = np.random.default_rng(2).poisson(5.0, (64, 64)).astype(np.float32)
    rng = np.random.default_rng(1)
    runs = obj + 0.02 * (rng.standard_normal((8, 64, 64)) + 1j * rng.standard_normal(
        (8, 64, 64))) * (np.abs(obj) > 0)
    return sim.intensity + background, obj, runs


def test_every_shell_returned_is_a_complete_ring(noisy):
    intensity, _, runs = noisy
    q, curve = metrics.prtf(runs, intensity, wiener=True)
    qw, w = metrics.wiener_filter(intensity)
    assert np.array_equal(q, qw) and q.max() == 0.5 and len(curve) == len(w) == len(q)
    idx, _ = shell_index(intensity.shape)
    count = shell_sum(np.ones((64, 64)), idx, np.ones((64, 64), bool), len(q))
    # a ring one pixel wide at radius i holds about 2 pi i pixels; corner shells hold few
    assert np.all(count[1:] >= 5 * np.arange(1, len(q)))


def test_bright_counts_in_the_corner_do_not_make_the_wprtf_jump(noisy):
    intensity, obj, _ = noisy
    intensity = intensity.copy()
    idx, _ = shell_index(intensity.shape)
    corner = idx == idx.max()   # the last shell: 3 pixels in the corner of the array
    # counts of 3 noise levels there gave that shell a Wiener weight of 2/3, and the
    # wPRTF a jump from 0 back up at its last point
    intensity[corner] = 3 * metrics.noise_level(intensity) + 1
    # runs that fit the measured modulus everywhere, as phased runs do: PRTF 1
    fitted = inverse_farfield(np.sqrt(intensity) * np.exp(1j * np.angle(farfield(obj))))
    runs = np.stack([fitted * np.exp(1j * k) for k in range(4)])
    q, w = metrics.prtf(runs, intensity, wiener=True)
    below = np.flatnonzero(w < metrics.INV_E)
    assert below.size and np.all(w[below[0]:] < metrics.INV_E)
    assert q[-1] == 0.5


def test_a_curve_that_never_crosses_is_limited_at_half_a_cycle_per_pixel():
    o = np.zeros((32, 32), complex)
    o[12:20, 10:22] = 1
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(o, norm="ortho"))) ** 2
    q, c = metrics.prtf(np.stack([o, o]), intensity)
    r = metrics.resolution(q, c)
    assert not r.crossed and r.pixels == pytest.approx(2.0)
