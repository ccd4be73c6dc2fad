"""More alignment cycles never end less consistent than one."""

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep import AlignInfo, alignment, residual_rmse

THETA = np.linspace(0, np.pi, 60, endpoint=False)


def scan(seed):
    vol = simulate.phantom("nanoparticles", 64, 48, seed=seed) * 0.05
    return tda.add_jitter(tda.reproject(vol, THETA), -5, 5, seed=seed)


@pytest.fixture
def scripted_network(monkeypatch):
    """A network whose first answer is the true jitter and whose later answers are
    wrong by up to 3 px: every cycle after the first makes the stack less consistent."""
    prj, dx, dy = scan(4)
    calls = []

    def predict(net, current, ref, batch_size=64, device=None):
        calls.append(1)
        if len(calls) == 1:
            return dx.copy(), dy.copy()
        rng = np.random.default_rng(len(calls))
        return rng.uniform(-3, 3, len(dx)), rng.uniform(-3, 3, len(dx))

    monkeypatch.setattr(alignment, "predict", predict)
    return prj, dx, dy, calls


@pytest.mark.parametrize("iters", [2, 10])
def test_worse_later_cycles_are_discarded_and_the_best_shifts_kept(scripted_network, iters):
    prj, dx, dy, calls = scripted_network
    info = AlignInfo()
    _, ex, ey = tda.align(prj, THETA, center=32.0, iters=iters, polish=False, info=info,
                         capture=False, check=False)
    np.testing.assert_allclose(ex, dx, atol=1e-9)
    np.testing.assert_allclose(ey, dy - dy.mean(), atol=1e-9)
    # the cycles stop at the first that raises the error: one network pass to find the
    # jitter and one that spoils it; scoring the spoilt shifts needs a reference only
    assert len(calls) == 2
    np.testing.assert_allclose(info.history[-1][0], ex)


@pytest.mark.parametrize("seed", [4, 5])
def test_align_with_more_cycles_ends_no_worse_than_one(seed):
    prj, dx, dy = scan(seed)
    one = residual_rmse(*tda.align(prj, THETA, center=32.0, iters=1)[1:], dx, dy, theta=THETA)
    more = residual_rmse(*tda.align(prj, THETA, center=32.0, iters=2)[1:], dx, dy,
                         theta=THETA)
    assert more <= one + 0.02, (more, one)


@pytest.mark.parametrize("method", [tda.align_pc, tda.align_reprojection])
def test_baselines_keep_the_most_consistent_cycle(method):
    prj, dx, dy = scan(6)
    one = residual_rmse(*method(prj, THETA, center=32.0, iters=1)[1:], dx, dy, theta=THETA)
    more = residual_rmse(*method(prj, THETA, center=32.0, iters=3)[1:], dx, dy, theta=THETA)
    assert more <= one + 0.02


@pytest.mark.parametrize("method", [tda.align, tda.align_pc, tda.align_reprojection])
@pytest.mark.parametrize("iters", [0, -1, 1.5, True])
def test_iters_must_be_a_positive_integer(method, iters):
    with pytest.raises(ValueError, match="iters must be a positive integer"):
        method(np.ones((60, 8, 16), np.float32), THETA, center=8.0, iters=iters)
