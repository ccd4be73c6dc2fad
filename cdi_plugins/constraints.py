"""Fourier-modulus and support constraints on a batch of runs, in PyTorch.

This is the physics every phasing algorithm is built from: the projection onto the
measured Fourier modulus (:meth:`Constraints.modulus`), the projection onto the support
and the optional real or positivity constraint (:meth:`Constraints.estimate`), the
chi^2 of eq. (5) of Wu et al. (2021), and Gaussian filters applied in Fourier space.

All runs of a reconstruction live in one complex tensor ``(n_runs, H, W)``. Real-space
objects are centred; Fourier-space tensors are kept in FFT order (zero frequency at index
0) so that no ``fftshift`` is needed inside the loop: the measured intensity, centred on
disk (DESIGN.md section 2), is shifted once when the constraints are built. Only the
modulus of the transform is constrained, so the position of the real-space origin does
not matter.
"""

from __future__ import annotations

import math

import numpy as np
import torch

CONSTRAINTS = ("none", "real", "positive")


def padded_farfield(obj: torch.Tensor, size: int) -> torch.Tensor:
    """Centred far field ``F(o)`` (unitary FFT) of centred ``(B, m, m)`` images zero-padded
    to ``size x size``; differentiable. The forward model of the CNN's data and loss."""
    m = obj.shape[-1]
    lo = size // 2 - m // 2
    pad = torch.nn.functional.pad(obj, (lo, size - m - lo, lo, size - m - lo))
    f = torch.fft.fft2(torch.fft.ifftshift(pad, dim=(-2, -1)), norm="ortho")
    return torch.fft.fftshift(f, dim=(-2, -1))


def modulus_of(z: torch.Tensor) -> torch.Tensor:
    """``|z|`` of a complex tensor; twice as fast as ``torch.abs`` on the CPU, where the
    complex ``abs`` kernel dominated an iteration (measured with torch's profiler)."""
    return (z.real.square() + z.imag.square()).sqrt()


class Constraints:
    """The measured modulus, the missing-data mask and the supports of one reconstruction.

    Parameters
    ----------
    intensity : numpy.ndarray
        Measured intensity ``(H, W)``, zero frequency at the centre, float32.
    mask : numpy.ndarray
        Boolean ``(H, W)``, True where a pixel is missing (left free by the modulus
        projection and excluded from chi^2).
    support : numpy.ndarray
        Boolean ``(n_runs, H, W)``: the starting support of every run.
    max_support : numpy.ndarray
        Boolean ``(n_runs, H, W)``: shrink-wrap never grows a support beyond it.
    constraint : {"none", "real", "positive"}
        Extra real-space constraint inside the support.
    device : torch.device
        Where the tensors live.

    Notes
    -----
    The FFT is unitary (``norm="ortho"``), so ``sum(|rho|^2) == sum(I)`` for an object
    that fits the data exactly (Parseval).
    """

    def __init__(self, intensity: np.ndarray, mask: np.ndarray, support: np.ndarray,
                 max_support: np.ndarray, constraint: str, device: torch.device) -> None:
        self.device = device
        self.shape = intensity.shape
        shifted = np.fft.ifftshift(intensity)
        missing = np.fft.ifftshift(mask)
        self.amplitude = torch.from_numpy(np.sqrt(shifted).astype(np.float32)).to(device)
        self.measured = torch.from_numpy(~missing).to(device)
        self.missing = ~self.measured
        self.norm = float(shifted[~missing].sum()) or 1.0
        self.support = torch.from_numpy(np.ascontiguousarray(support)).to(device)
        self.max_support = torch.from_numpy(np.ascontiguousarray(max_support)).to(device)
        self.constraint = constraint
        h, w = self.shape
        ky = torch.fft.fftfreq(h, device=device).reshape(-1, 1)
        kx = torch.fft.fftfreq(w, device=device).reshape(1, -1)
        #: squared spatial frequency in cycles per pixel, FFT order
        self.freq2 = (ky**2 + kx**2).to(torch.float32)
        self._cached: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- transforms -----------------------------------------------------------------
    @staticmethod
    def fft(x: torch.Tensor) -> torch.Tensor:
        """Unitary 2D FFT over the last two axes (FFT order in, FFT order out)."""
        return torch.fft.fft2(x, norm="ortho")

    @staticmethod
    def ifft(x: torch.Tensor) -> torch.Tensor:
        """Unitary inverse 2D FFT over the last two axes."""
        return torch.fft.ifft2(x, norm="ortho")

    def _fourier(self, rho: torch.Tensor) -> torch.Tensor:
        # ER's iterate is its own estimate: the transform taken for chi^2 is reused here.
        if self._cached is not None and self._cached[0] is rho:
            return self._cached[1]
        return self.fft(rho)

    # -- projections ----------------------------------------------------------------
    def modulus(self, rho: torch.Tensor) -> torch.Tensor:
        """Project onto the measured Fourier modulus, leaving missing pixels free.

        ``P_M(rho) = F^-1[ sqrt(I) F(rho) / |F(rho)| ]`` on measured pixels and
        ``F(rho)`` unchanged on missing ones.
        """
        f = self._fourier(rho)
        amp = modulus_of(f)
        factor = torch.where(self.measured, self.amplitude / amp.clamp_min(1e-30),
                             torch.ones_like(amp))
        return self.ifft(f * factor)

    def accept(self, y: torch.Tensor) -> torch.Tensor:
        """Where ``y`` satisfies the real-space constraints: inside the support and,
        with ``constraint="positive"``, where its real part is not negative."""
        if self.constraint == "positive":
            return self.support & (y.real >= 0)
        return self.support

    def _apply_value_constraint(self, y: torch.Tensor) -> torch.Tensor:
        if self.constraint == "real":
            return torch.complex(y.real, torch.zeros_like(y.real))
        if self.constraint == "positive":
            return torch.complex(y.real.clamp_min(0), torch.zeros_like(y.real))
        return y

    def estimate(self, rho: torch.Tensor) -> torch.Tensor:
        """Project onto the support (and the real or positivity constraint):
        ``P_S(rho)``, the reconstruction an iterate stands for."""
        return torch.where(self.support, self._apply_value_constraint(rho),
                           torch.zeros((), dtype=rho.dtype, device=rho.device))

    def inside(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` with the value constraint applied (used where :meth:`accept` is True)."""
        return self._apply_value_constraint(y)

    # -- error ----------------------------------------------------------------------
    def chi2(self, estimate: torch.Tensor, reuse: bool = False) -> torch.Tensor:
        """chi^2 of eq. (5) of Wu et al. (2021) per run, on measured pixels.

        ``chi2 = sum (|F(x)| - sqrt(I))^2 / sum I``. With ``reuse=True`` the transform
        is kept for the next :meth:`modulus` of the same tensor (ER).
        """
        f = self.fft(estimate)
        self._cached = (estimate, f) if reuse else None
        diff = (modulus_of(f) - self.amplitude) * self.measured
        return (diff**2).sum(dim=(-2, -1)) / self.norm

    # -- filters --------------------------------------------------------------------
    def gaussian_blur(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Convolve real-space ``x`` with a unit-area Gaussian of ``sigma`` pixels."""
        kernel = torch.exp(-2.0 * math.pi**2 * sigma**2 * self.freq2)
        return self.ifft(self.fft(x) * kernel)

    def fourier_gaussian(self, alpha: float) -> torch.Tensor:
        """OSS's Fourier-space window ``exp(-k^2 / (2 alpha^2))``, ``k`` in Fourier pixels
        (Rodriguez et al. 2013), FFT order."""
        h, w = self.shape
        n = max(h, w)
        return torch.exp(-0.5 * self.freq2 * n * n / (alpha * alpha))
