"""Fourier-modulus and support constraints on a batch of runs, in PyTorch.

This is the physics every phasing algorithm is built from: the projection onto the
measured Fourier modulus (:meth:`Constraints.modulus`), the projection onto the support
and the optional real or positivity constraint (:meth:`Constraints.estimate`), the
chi^2 of eq. (5) of Wu et al. (2021), and Gaussian filters applied in Fourier space.

All runs of a reconstruction live in one complex tensor ``(n_runs, H, W)`` (or
``(n_runs, D, H, W)`` for a 3D pattern: every operation here works over the pattern's
spatial axes, whatever their number). Real-space objects are centred; Fourier-space
tensors are kept in FFT order (zero frequency at index 0) so that no ``fftshift`` is
needed inside the loop: the measured intensity, centred on disk (DESIGN.md section 2),
is shifted once, when its :class:`Measurement` is built. Only the modulus of the
transform is constrained, so the position of the real-space origin does not matter.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from ..metrics.noise import friedel_test, is_counts
from ..physics import (
    as_pattern,
    farfield_torch,
    inverse_farfield_torch,
    magnitude,
    spatial_axes,
)
from . import kernels

logger = logging.getLogger(__name__)

CONSTRAINTS = ("none", "real", "positive")
#: what ``phase_retrieval(constraint=...)`` accepts: a constraint, or ``"auto"``
CONSTRAINT_CHOICES = (*CONSTRAINTS, "auto")


def choose_constraint(constraint: str, intensity, mask=None) -> str:
    """The real-space constraint to phase with; ``"auto"`` decides from the pattern.

    ``"auto"`` gives ``"positive"`` when the pattern holds photon counts that obey
    Friedel's law ``I(q) = I(-q)`` within their noise
    (:func:`cdi_plugins.metrics.friedel_test`): the pattern of a real object, such as
    the non-negative density of a weakly scattering sample. Otherwise (a complex object,
    or intensities that are not counts and cannot be tested) it gives ``"none"``.

    Example
    -------
    >>> from cdi_plugins import simulate
    >>> bio = simulate.simulate_pattern(simulate.biological_object(64, seed=0), 1e6, seed=0)
    >>> xtal = simulate.simulate_pattern(simulate.crystal_object(64, seed=0), 1e6, seed=0)
    >>> choose_constraint("auto", bio.intensity), choose_constraint("auto", xtal.intensity)
    ('positive', 'none')
    """
    if constraint not in CONSTRAINT_CHOICES:
        raise ValueError(f"constraint must be one of {CONSTRAINT_CHOICES}, got {constraint!r}")
    if constraint != "auto":
        return constraint
    pat = as_pattern(intensity, mask)
    chosen = "none"
    if is_counts(pat.intensity, pat.mask):
        try:
            chosen = "positive" if friedel_test(pat.intensity, pat.mask).symmetric else "none"
        except ValueError:  # no measured pair of mates
            pass
    logger.info("constraint 'auto': %r for this pattern", chosen)
    return chosen


class Measurement:
    """A measured pattern on the device, in FFT order: built once per phasing run and
    shared by every batch of runs.

    Parameters
    ----------
    intensity : numpy.ndarray
        Measured intensity ``(H, W)`` or ``(D, H, W)``, zero frequency at the centre,
        float32, validated (:func:`cdi_plugins.physics.check_intensity`).
    mask : numpy.ndarray
        Boolean, the intensity's shape, True where a pixel is missing (left free by the
        modulus projection and excluded from chi^2).
    device : torch.device
        Where the tensors live.
    free : numpy.ndarray, optional
        Boolean, the intensity's shape, measured pixels withheld from the modulus
        projection and from chi^2, kept for the free log-likelihood
        (:func:`cdi_plugins.metrics.free_pixels`).
    """

    def __init__(self, intensity: np.ndarray, mask: np.ndarray, device: torch.device,
                 free: np.ndarray | None = None) -> None:
        self.device = device
        self.shape = intensity.shape
        #: spatial dimensions (2 or 3) and their axes in a batch of runs
        self.ndim = intensity.ndim
        self.dims = spatial_axes(self.ndim)
        shifted = np.fft.ifftshift(intensity)
        missing = np.fft.ifftshift(mask if free is None else mask | free)
        self.amplitude = torch.from_numpy(np.sqrt(shifted).astype(np.float32)).to(device)
        self.measured = torch.from_numpy(~missing).to(device)
        self.norm = float(shifted[~missing].sum()) or 1.0
        #: the fused CPU modulus kernel's amplitude (:mod:`~cdi_plugins.phasing.kernels`)
        self.kernel_amplitude = (kernels.modulus_amplitude(np.sqrt(shifted), ~missing)
                                 if device.type == "cpu" else None)
        freq2 = 0
        for axis, n in enumerate(self.shape):
            k = torch.fft.fftfreq(n, device=device)
            freq2 = freq2 + k.reshape([-1 if a == axis else 1 for a in range(self.ndim)])**2
        #: squared spatial frequency in cycles per pixel, FFT order
        self.freq2 = freq2.to(torch.float32)


class Constraints:
    """The measured modulus, the missing-data mask and the supports of a batch of runs.

    Parameters
    ----------
    data : Measurement
        The measured pattern, already on the device.
    support : numpy.ndarray
        Boolean ``(n_runs, *shape)``: the starting support of every run.
    max_support : numpy.ndarray
        Boolean ``(n_runs, *shape)``: shrink-wrap never grows a support beyond it.
    constraint : {"none", "real", "positive"}
        Extra real-space constraint inside the support.

    Notes
    -----
    The FFT is unitary (``norm="ortho"``), so ``sum(|rho|^2) == sum(I)`` for an object
    that fits the data exactly (Parseval).
    """

    def __init__(self, data: Measurement, support: np.ndarray, max_support: np.ndarray,
                 constraint: str) -> None:
        self.device = data.device
        self.shape = data.shape
        self.ndim = data.ndim
        self.dims = data.dims
        self.amplitude = data.amplitude
        self.measured = data.measured
        self.norm = data.norm
        self.freq2 = data.freq2
        self.kernel_amplitude = data.kernel_amplitude
        self.support = torch.from_numpy(np.ascontiguousarray(support)).to(self.device)
        self.max_support = torch.from_numpy(np.ascontiguousarray(max_support)).to(self.device)
        self.constraint = constraint
        self._cached: tuple[torch.Tensor, torch.Tensor] | None = None
        self._scratch: dict[str, torch.Tensor] = {}

    # -- transforms -----------------------------------------------------------------
    def fft(self, x: torch.Tensor) -> torch.Tensor:
        """The far field in FFT order over the spatial axes
        (:func:`cdi_plugins.physics.farfield_torch`)."""
        return farfield_torch(x, centred=False, ndim=self.ndim)

    def ifft(self, x: torch.Tensor) -> torch.Tensor:
        """Its inverse, FFT order in and out."""
        return inverse_farfield_torch(x, centred=False, ndim=self.ndim)

    def _buffer(self, name: str, like: torch.Tensor) -> torch.Tensor | None:
        """A reused buffer shaped as ``like`` (CPU only: fresh pages for every
        intermediate cost the CPU loop about a sixth of its time), or None."""
        if like.device.type != "cpu":
            return None
        buf = self._scratch.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = torch.empty_like(like, memory_format=torch.contiguous_format)
            self._scratch[name] = buf
        return buf

    def _fused(self, f: torch.Tensor) -> bool:
        """Whether a far field goes to the fused CPU kernels (which need the pattern's
        amplitude in their layout, built for a CPU measurement)."""
        return self.kernel_amplitude is not None and kernels.fusable(f)

    def _transform(self, x: torch.Tensor, inverse: bool, name: str) -> torch.Tensor:
        buf = self._buffer(name, x)
        if buf is None:
            return self.ifft(x) if inverse else self.fft(x)
        fn = torch.fft.ifftn if inverse else torch.fft.fftn
        return fn(x, dim=self.dims, norm="ortho", out=buf)

    def per_run(self, values: torch.Tensor) -> torch.Tensor:
        """``(n_runs,)`` values shaped to broadcast over the runs' spatial axes."""
        return values.reshape(-1, *(1,) * self.ndim)

    def scale_to_data(self, rho: torch.Tensor) -> torch.Tensor:
        """``rho`` scaled so that its far field holds the measured intensity over the
        constrained pixels (each run on its own): a start of the right scale whatever
        its origin and whatever the mask takes away."""
        f = self.fft(rho)
        calc = (magnitude(f).square() * self.measured).sum(dim=self.dims)
        scale = (self.norm / calc.clamp_min(1e-30)).sqrt()
        return rho * self.per_run(scale).to(rho.dtype)

    def _fourier(self, rho: torch.Tensor) -> torch.Tensor:
        # ER's iterate is its own estimate: the transform taken for chi^2 is reused here.
        if self._cached is not None and self._cached[0] is rho:
            return self._cached[1]
        return self._transform(rho, False, "far field")

    # -- projections ----------------------------------------------------------------
    def modulus(self, rho: torch.Tensor, scratch: bool = False) -> torch.Tensor:
        """Project onto the measured Fourier modulus, leaving missing pixels free.

        ``P_M(rho) = F^-1[ sqrt(I) F(rho) / |F(rho)| ]`` on measured pixels and
        ``F(rho)`` unchanged on missing ones. With ``scratch=True`` the result is
        written in a buffer that the next such call overwrites (for a step that uses it
        at once, as the algorithms here do).
        """
        f = self._fourier(rho)
        self._cached = None  # the fused kernel below changes f in place
        if self._fused(f):
            f = kernels.modulus_(f, self.kernel_amplitude)
            return self._transform(f, True, "modulus") if scratch else self.ifft(f)
        amp = magnitude(f)
        factor = torch.where(self.measured, self.amplitude / amp.clamp_min(1e-30),
                             torch.ones_like(amp))
        return self.ifft(f * factor)

    def update(self, rho: torch.Tensor, y: torch.Tensor, a: float,
               b: float) -> tuple[torch.Tensor, torch.Tensor]:
        """A relaxed projection's next iterate and its estimate: where ``y`` satisfies
        the real-space constraints (:meth:`accept`), ``y`` constrained (:meth:`inside`)
        for both; elsewhere ``a rho + b y`` for the iterate and 0 for the estimate. One
        fused pass on CPU tensors (:mod:`~cdi_plugins.phasing.kernels`)."""
        if kernels.fusable(rho, y):
            return kernels.update(rho, y, self.support, a, b, self.constraint)
        keep = self.accept(y)
        inside = self.inside(y)
        zero = torch.zeros((), dtype=inside.dtype, device=inside.device)
        return torch.where(keep, inside, a * rho + b * y), torch.where(keep, inside, zero)

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
        if kernels.fusable(rho):
            return kernels.estimate(rho, self.support, self.constraint)
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
        f = self._transform(estimate, False, "far field")
        self._cached = (estimate, f) if reuse else None
        if self._fused(f):
            return kernels.misfit(f, self.kernel_amplitude) / self.norm
        diff = (magnitude(f) - self.amplitude) * self.measured
        return (diff**2).sum(dim=self.dims) / self.norm

    # -- filters --------------------------------------------------------------------
    def gaussian_blur(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Convolve real-space ``x`` with a unit-area Gaussian of ``sigma`` pixels."""
        kernel = torch.exp(-2.0 * math.pi**2 * sigma**2 * self.freq2)
        return self.ifft(self.fft(x) * kernel)

    def fourier_gaussian(self, alpha: float) -> torch.Tensor:
        """OSS's Fourier-space window ``exp(-k^2 / (2 alpha^2))``, ``k`` in Fourier pixels
        (Rodriguez et al. 2013), FFT order."""
        n = max(self.shape)
        return torch.exp(-0.5 * self.freq2 * n * n / (alpha * alpha))
