"""The fused CPU kernels compute what the PyTorch path of ``Constraints`` computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdi_plugins as cdi
from cdi_plugins import simulate
from cdi_plugins.phasing import kernels
from cdi_plugins.phasing.algorithms import HIO, RAAR
from cdi_plugins.phasing.constraints import Constraints, Measurement


def _torch_only(monkeypatch):
    monkeypatch.setattr(kernels, "fusable", lambda *tensors: False)


def _ops(shape, n_runs, constraint, seed=0):
    rng = np.random.default_rng(seed)
    intensity = rng.poisson(50, shape).astype(np.float32)
    mask = rng.random(shape) < 0.1
    intensity[tuple(s // 2 for s in shape)] = 0  # a measured zero
    data = Measurement(intensity, mask, torch.device("cpu"), free=rng.random(shape) < 0.05)
    support = rng.random((n_runs, *shape)) < 0.4
    return Constraints(data, support, np.ones_like(support), constraint), rng


def _batch(rng, shape):
    z = rng.standard_normal((2, *shape)) + 1j * rng.standard_normal((2, *shape))
    return torch.from_numpy(z.astype(np.complex64))


@pytest.mark.parametrize("shape", [(16, 24), (8, 6, 10)])
@pytest.mark.parametrize("constraint", ["none", "real", "positive"])
def test_fused_update_and_modulus_equal_the_torch_path(shape, constraint, monkeypatch):
    ops, rng = _ops(shape, 2, constraint)
    rho, y = _batch(rng, shape), _batch(rng, shape)
    y[0, 0] = 0  # a zero modulus: the kernel divides by at most 1e-30, as torch does
    fused = [ops.modulus(rho), *ops.update(rho, y, 1.0, -0.9), ops.estimate(y),
             *ops.update(rho, y, 0.75, 1 - 1.5), ops.chi2(rho)]
    _torch_only(monkeypatch)
    plain = [ops.modulus(rho), *ops.update(rho, y, 1.0, -0.9), ops.estimate(y),
             *ops.update(rho, y, 0.75, 1 - 1.5), ops.chi2(rho)]
    for got, want in zip(fused, plain, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-6, atol=2e-6)
    # the estimate is zero outside the support and obeys the constraint inside it
    est = fused[2].numpy()
    assert not est[~ops.support.numpy()].any()
    if constraint != "none":
        assert not est.imag.any()
    if constraint == "positive":
        assert (est.real >= 0).all()


def test_hio_and_raar_steps_take_the_fused_update(monkeypatch):
    ops, rng = _ops((16, 16), 2, "none")
    rho = _batch(rng, (16, 16))
    calls = []
    real_update = kernels.update
    monkeypatch.setattr(kernels, "update", lambda *a: calls.append(a[3:5]) or real_update(*a))
    HIO(0.9).step(rho, ops, 0)
    RAAR(0.8).step(rho, ops, 0)
    assert calls == [(1.0, -0.9), (0.8, pytest.approx(1 - 1.6))]


def test_a_subclass_with_its_own_outside_rule_keeps_it():
    class Halved(HIO):
        def outside(self, rho, y):
            return 0.5 * rho

    ops, rng = _ops((16, 16), 2, "none")
    rho = _batch(rng, (16, 16))
    new, _ = Halved(0.9).step(rho, ops, 0)
    y = ops.modulus(rho)
    outside = ~ops.support.numpy()
    np.testing.assert_array_equal(new.numpy()[outside], 0.5 * rho.numpy()[outside])
    np.testing.assert_allclose(new.numpy()[~outside], y.numpy()[~outside], rtol=1e-6)


def test_pieces_on_one_or_several_threads_give_the_same_bits():
    ops, rng = _ops((256, 256), 3, "positive")
    rho, y = torch.from_numpy(np.repeat(_batch(rng, (256, 256)).numpy(), 2, 0)[:3]), None
    y = rho.flip(0).contiguous()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = kernels.update(rho, y, ops.support, 1.0, -0.9, "positive")
        torch.set_num_threads(max(2, threads))
        assert len(kernels._pieces(3 * kernels.ROWS_PER_RUN, y.numel())) > 1
        several = kernels.update(rho, y, ops.support, 1.0, -0.9, "positive")
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, several, strict=True):
        assert torch.equal(a, b)


def test_other_tensors_take_the_torch_path():
    z = torch.zeros(2, 4, 4, dtype=torch.complex64)
    assert kernels.fusable(z, z)
    assert not kernels.fusable(z.to(torch.complex128))
    assert not kernels.fusable(z.transpose(1, 2))


def test_phasing_with_the_kernels_matches_the_torch_path(monkeypatch):
    """ER is a contraction: the two paths' rounding differences do not grow."""
    obj = simulate.crystal_object_3d(16, extent=0.4, seed=1)
    sim = simulate.simulate_pattern(obj, photons=None)
    kw = dict(n_runs=2, seed=3, algorithm="HIO**30 * ER**30", shrinkwrap=False,
              free_fraction=0, low_resolution=False, show_progress=False)
    fused = cdi.phase_retrieval(sim.intensity, **kw)
    _torch_only(monkeypatch)
    plain = cdi.phase_retrieval(sim.intensity, **kw)
    np.testing.assert_allclose(fused.chi2[:, :10], plain.chi2[:, :10], rtol=1e-3)
    err = np.abs(fused.objects - plain.objects).max() / np.abs(plain.objects).max()
    assert err < 0.05


def test_reused_buffers_never_hand_back_a_stale_transform():
    """chi^2 and the modulus projection share one far-field buffer on the CPU: a later
    chi^2 of another tensor must not leave the projection of the first one wrong."""
    ops, rng = _ops((16, 16), 2, "none")
    x, z = _batch(rng, (16, 16)), _batch(rng, (16, 16))
    want = ops.modulus(x).clone()
    ops.chi2(x, reuse=True)
    ops.chi2(z)
    np.testing.assert_allclose(ops.modulus(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    ops.chi2(x, reuse=True)
    np.testing.assert_allclose(ops.modulus(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    first = ops.modulus(x, scratch=True)
    kept = first.clone()
    ops.modulus(z, scratch=True)  # a scratch result lives until the next scratch call
    assert not torch.equal(first, kept)
    assert torch.equal(ops.modulus(x), want)
