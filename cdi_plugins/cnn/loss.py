"""Loss of eq. (4) and the chi^2 errors of eq. (5) of Wu et al. (2021), in PyTorch.

The loss ties real and reciprocal space together:

``l = (lambda_1 L_1(A) + lambda_2 L_2(phi) + lambda_3 L_3(sqrt(I))) / (lambda_1 + lambda_2
+ lambda_3)``, with ``lambda = (1, 1, 4)``,

``L_1(x) = L_2(x) = [sum_n (x_p - x_g)^2]^(1/2) / [sum_n x_g^2]^(1/2)`` on the amplitude
and on the phase scaled to (0, 1), and ``L_3(x) = 1 - pearson(x_p, x_g)`` between the
modulus of the Fourier transform of the predicted complex image
``A_p exp(i (2 pi phi_p - pi))`` (zero-padded to the pattern's size) and the measured
modulus ``sqrt(I)``. ``L_3`` does not change when the predicted image is multiplied by a
constant (scale or global phase), shifted, or replaced by its twin ``conj(o(-r))``:
the modulus alone cannot tell these apart.
"""

from __future__ import annotations

import math

import torch

from ..physics import farfield_torch

#: weights (lambda_1, lambda_2, lambda_3) of eq. (4)
LAMBDAS = (1.0, 1.0, 4.0)


def relative_error(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``L_1`` of eq. (4) per sample: ``||x_p - x_g|| / ||x_g||`` over the last two axes."""
    num = (pred - truth).square().sum(dim=(-2, -1)).sqrt()
    return num / truth.square().sum(dim=(-2, -1)).sqrt().clamp_min(1e-12)


def to_complex(amplitude: torch.Tensor, phase01: torch.Tensor) -> torch.Tensor:
    """``A exp(i (2 pi p - pi))``: the complex image from the network's two outputs."""
    return torch.polar(amplitude, 2 * math.pi * phase01 - math.pi)


def fourier_modulus(obj: torch.Tensor, size: int) -> torch.Tensor:
    """``|F(o)|`` (unitary FFT, centred) of centred ``(B, m, m)`` images zero-padded to
    ``size``; differentiable (the small constant keeps the gradient finite at zeros)."""
    f = farfield_torch(obj, size)
    return (f.real.square() + f.imag.square() + 1e-20).sqrt()


def pearson_loss(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``L_3`` of eq. (4) per sample: one minus the Pearson correlation coefficient."""
    p = pred.flatten(1)
    g = truth.flatten(1)
    p = p - p.mean(dim=1, keepdim=True)
    g = g - g.mean(dim=1, keepdim=True)
    r = (p * g).sum(1) / ((p.square().sum(1) * g.square().sum(1)).sqrt().clamp_min(1e-20))
    return 1 - r


def loss_terms(amp_p: torch.Tensor, phase_p: torch.Tensor, amp_g: torch.Tensor,
               phase_g: torch.Tensor, modulus_g: torch.Tensor) -> torch.Tensor:
    """``(L_1(A), L_2(phi), L_3(sqrt I))`` per sample, ``(B, 3)``."""
    mod_p = fourier_modulus(to_complex(amp_p, phase_p), modulus_g.shape[-1])
    return torch.stack([relative_error(amp_p, amp_g), relative_error(phase_p, phase_g),
                        pearson_loss(mod_p, modulus_g)], dim=1)


def cnn_loss(amp_p: torch.Tensor, phase_p: torch.Tensor, amp_g: torch.Tensor,
             phase_g: torch.Tensor, modulus_g: torch.Tensor,
             lambdas: tuple[float, float, float] = LAMBDAS) -> torch.Tensor:
    """The loss ``l`` of eq. (4), averaged over the batch.

    Parameters
    ----------
    amp_p, phase_p : torch.Tensor
        Predicted amplitude and phase in (0, 1), ``(B, m, m)``.
    amp_g, phase_g : torch.Tensor
        Their ground truth.
    modulus_g : torch.Tensor
        Measured modulus ``sqrt(I)`` ``(B, H, W)``, centred (any scale).
    lambdas : (float, float, float)
        ``(lambda_1, lambda_2, lambda_3)``.

    Example
    -------
    >>> import torch
    >>> a = torch.rand(2, 32, 32); p = torch.rand(2, 32, 32)
    >>> mod = fourier_modulus(to_complex(a, p), 64)
    >>> float(cnn_loss(a, p, a, p, mod)) < 1e-5
    True
    """
    w = torch.tensor(lambdas, dtype=amp_p.dtype, device=amp_p.device)
    terms = loss_terms(amp_p, phase_p, amp_g, phase_g, modulus_g)
    return (terms * w).sum(dim=1).mean() / w.sum()


def modulus_chi2(modulus_p: torch.Tensor, intensity_g: torch.Tensor) -> torch.Tensor:
    """chi^2 of eq. (5) per sample, with the prediction's scale fitted.

    ``chi2 = sum_n (s sqrt(I_p) - sqrt(I_g))^2 / sum_n I_g``, where
    ``s = sum sqrt(I_p I_g) / sum I_p`` minimises it: a network's amplitude is known
    only up to the (arbitrary) units of the measured intensity.
    """
    g = intensity_g.clamp_min(0).sqrt().flatten(1)
    p = modulus_p.flatten(1)
    s = (p * g).sum(1) / p.square().sum(1).clamp_min(1e-30)
    return (s[:, None] * p - g).square().sum(1) / g.square().sum(1).clamp_min(1e-30)


def image_chi2(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """chi^2 of an amplitude or a scaled phase map, per sample:
    ``sum (x_p - x_g)^2 / sum x_g^2`` (eq. 5 in real space)."""
    return relative_error(pred, truth).square()
