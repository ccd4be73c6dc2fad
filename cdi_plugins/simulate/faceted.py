"""Faceted, strained crystals seen as measured Bragg CDI frames: the complex CNN's
training data for measured Bragg frames.

A frame of a rocking-curve scan is a slice of the 3D intensity around a Bragg peak. By
the central-slice theorem, the slice at ``q_z = k`` (in frequency pixels of the 2D
pattern) is the 2D Fourier transform of ``o_k(x, y) = sum_z rho(r) exp(-2 pi i k z /
size)``, and that projection, with its global phase and twin fixed
(:func:`~cdi_plugins.simulate.superellipsoid.canonical_image`), is the network's target,
as for the superellipsoids of Wu et al. (2021). What changes is what the projection is
of, and how the pattern is recorded:

- **the crystal**: a convex polyhedron bounded by {100} and {111} facets (a truncated
  octahedron or cuboctahedron, as gold and Pt nanocrystals grow), each facet at its own
  distance from the centre (asymmetric growth), randomly oriented, its edges smoothed;
- **its phase**: the projection of a displacement field on the scattering vector, the
  sum of a bending term (quadratic in position), the field of a point inclusion
  (``u ~ (r - r0) / max(|r - r0|, r_c)^3``) and a weak correlated field (eq. 3 of the
  paper with long correlation lengths);
- **the frame**: off the rocking curve's maximum by ``k`` (the ramp above), its zero
  frequency off the array centre by up to ``offcentre`` pixels (the object carries the
  matching phase ramp), Poisson counts at a total drawn log-uniformly in ``photons``
  (measured frames hold 1e4-1e7 photons), and, in a share ``gap_fraction`` of the
  frames, a detector gap: a row or column band of 1-3 pixels with no counts.

Everything runs in PyTorch on batches; particle ``k`` of a dataset depends only on the
seed and its chunk, as in :mod:`~cdi_plugins.simulate.superellipsoid`, whose
``make_dataset`` writes these data too (``FacetedConfig`` instead of its config).

Example
-------
>>> from cdi_plugins.simulate import faceted
>>> b = faceted.generate(3, seed=0)
>>> b.intensity.shape, b.amplitude.shape, bool(b.phase.max() <= 1)
((3, 64, 64), (3, 32, 32), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .superellipsoid import (
    SuperellipsoidBatch,
    canonical_image,
    fibonacci_sphere,
    frequency_grid3,
    pattern_from_image,
    random_rotations,
    smoothed,
    torch_seed,
)

#: names of the per-particle parameters stored with a dataset, in column order
PARAMETERS = ("t100", "t111", "sigma", "bend", "inclusion", "field", "kz", "dy", "dx",
              "photons", "gap", "q0", "q1", "q2", "q3", "twin")

#: the facet normals in the crystal's frame: three {100} and four {111} directions
_NORMALS = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1],
                         [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=torch.float64)
_NORMALS = _NORMALS / _NORMALS.norm(dim=1, keepdim=True)


@dataclass
class FacetedConfig:
    """Ranges of the random crystal and frame parameters (uniform draws unless noted).

    Parameters
    ----------
    size : int
        Pattern size (a multiple of 4); crystals and targets are ``size // 2``.
    radius : float
        Largest distance of a crystal's corner from the centre, as a fraction of the
        particle grid ``m`` (so it fits the target in any orientation).
    truncation : (float, float)
        Range of the {111} facets' distance over the {100} facets' (``sqrt(3)`` and
        above: a cube; 1: an octahedron; in between: truncated shapes).
    asymmetry : float
        Each facet's distance is scaled by ``1 + U(-asymmetry, asymmetry)``.
    smoothing : (float, float)
        Range of the Gaussian width (pixels) that rounds the edges.
    bending, inclusion, field : (float, float)
        Ranges of the peak phase (radians) of the bending, inclusion and correlated
        terms.
    rocking : float
        Frames lie up to this many frequency pixels off the rocking curve's maximum.
    offcentre : float
        The zero frequency lies up to this many pixels off the array centre.
    photons : (float, float) or None
        Range of the total photons per frame, drawn log-uniformly; None: noiseless.
    gap_fraction : float
        Share of frames with a detector gap.
    """

    size: int = 64
    radius: float = 0.40
    truncation: tuple[float, float] = (1.0, 1.6)
    asymmetry: float = 0.15
    smoothing: tuple[float, float] = (0.3, 0.8)
    bending: tuple[float, float] = (0.0, 1.5)
    inclusion: tuple[float, float] = (0.0, 2.0)
    field: tuple[float, float] = (0.0, 0.8)
    rocking: float = 1.5
    offcentre: float = 1.0
    photons: tuple[float, float] | None = (1e4, 1e7)
    gap_fraction: float = 0.3
    kind: str = "faceted"

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 4:
            raise ValueError(f"size must be a multiple of 4 of at least 16, got {self.size}")
        if not 0 < self.radius <= 0.45:
            raise ValueError(f"radius must be in (0, 0.45] of the particle grid, got "
                             f"{self.radius}")
        for name in ("truncation", "smoothing", "bending", "inclusion", "field"):
            lo, hi = getattr(self, name)
            positive = name in ("truncation", "smoothing")
            if not ((lo > 0 if positive else lo >= 0) and lo <= hi):
                kind = "positive" if positive else "non-negative"
                raise ValueError(f"{name} must be a range low <= high of {kind} numbers, "
                                 f"got {(lo, hi)}")
            setattr(self, name, (float(lo), float(hi)))
        for name in ("asymmetry", "rocking", "offcentre", "gap_fraction"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.asymmetry < 1 or not self.gap_fraction <= 1:
            raise ValueError(f"asymmetry must be below 1 and gap_fraction at most 1, got "
                             f"{self.asymmetry}, {self.gap_fraction}")
        if self.photons is not None:
            lo, hi = self.photons
            if not 0 < lo <= hi:
                raise ValueError(f"photons must be a range 0 < low <= high or None, got "
                                 f"{self.photons}")
            self.photons = (float(lo), float(hi))
        if self.kind != "faceted":
            raise ValueError(f"kind must be 'faceted', got {self.kind!r}")

    #: the columns of ``params`` (what ``make_dataset`` records)
    parameters = PARAMETERS

    def draw(self, n: int, seed) -> SuperellipsoidBatch:
        """``n`` crystals of this configuration (what ``make_dataset`` calls)."""
        return generate(n, self, seed=seed)


def generate(n: int, config: FacetedConfig | None = None, seed: int | None = 0
             ) -> SuperellipsoidBatch:
    """Draw ``n`` faceted, strained crystals and their frames (module docstring).

    Returns
    -------
    SuperellipsoidBatch
        ``intensity`` ``(n, size, size)`` (scaled back to the noiseless pattern's units
        after Poisson sampling, zero in a gap), ``amplitude`` and ``phase`` ``(n, m, m)``
        as in :func:`cdi_plugins.simulate.superellipsoid.generate`, ``support`` and
        ``params`` (columns :data:`PARAMETERS`).
    """
    cfg = config or FacetedConfig()
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    gen = torch.Generator().manual_seed(torch_seed(seed))
    m = cfg.size // 2
    f64 = torch.float64

    def uniform(lo_hi, *shape):
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=f64)

    t111 = uniform(cfg.truncation, n)
    dist = torch.cat([torch.ones(n, 3, dtype=f64), t111[:, None].expand(n, 4)], dim=1)
    dist = torch.cat([dist, dist], dim=1) * uniform((1 - cfg.asymmetry, 1 + cfg.asymmetry),
                                                    n, 14)
    sigma = uniform(cfg.smoothing, n)
    amps = torch.stack([uniform(cfg.bending, n), uniform(cfg.inclusion, n),
                        uniform(cfg.field, n)], dim=1)
    R, q = random_rotations(n, gen)
    bend = torch.randn(n, 3, 3, generator=gen, dtype=f64)
    centre = uniform((-0.4, 0.4), n, 3)          # inclusion, in units of the radius
    qhat = torch.randn(n, 3, generator=gen, dtype=f64)
    qhat = qhat / qhat.norm(dim=1, keepdim=True)
    noise = torch.randn(n, m, m, m, generator=gen, dtype=torch.float32)
    kz = uniform((-cfg.rocking, cfg.rocking), n)
    shift = uniform((-cfg.offcentre, cfg.offcentre), n, 2)
    log_ph = uniform((0.0, 1.0), n)
    gap = torch.rand(n, generator=gen, dtype=f64) < cfg.gap_fraction
    gap_draw = torch.rand(n, 3, generator=gen, dtype=f64)

    normals = torch.cat([_NORMALS, -_NORMALS])                    # (14, 3)
    # scale each crystal so that its farthest corner lies at radius * m
    dirs = fibonacci_sphere(2000)
    proj = dirs @ normals.T                                         # (k, 14)
    reach = torch.where(proj[None] > 1e-9, dist[:, None, :] / proj[None].clamp_min(1e-9),
                        torch.full((), math.inf, dtype=f64)).amin(dim=2)   # (n, k)
    dist = dist * (cfg.radius * m / reach.amax(dim=1))[:, None]
    r_max = cfg.radius * m

    f32 = torch.float32
    c = torch.arange(m, dtype=f32) - m // 2
    grid = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1).reshape(1, -1, 3)
    body = grid @ R.to(f32)                                         # the crystal's frame
    inside = ((body @ normals.T.to(f32)) <= dist[:, None, :].to(f32)).all(dim=2)
    inside = inside.to(f32).reshape(n, m, m, m)
    k = frequency_grid3(m).to(f32)
    smooth = smoothed(inside, sigma, k)
    phi = _strain_phase(grid[0], bend, centre * r_max, qhat, amps, noise, inside > 0.5, k,
                        r_max)
    vol = torch.polar(smooth, phi)
    # the frame off the rocking maximum, and its zero frequency off the array centre
    z = c.to(f64)
    ramp_z = torch.exp(-2j * math.pi * kz[:, None] * z[None, :] / cfg.size).to(torch.complex64)
    obj = (vol * ramp_z[:, None, None, :]).sum(dim=3)
    ramp = torch.exp(2j * math.pi * (shift[:, 0, None, None] * z[None, :, None]
                                     + shift[:, 1, None, None] * z[None, None, :]) / cfg.size)
    obj = obj * ramp.to(torch.complex64)
    obj, twin = canonical_image(obj)
    amp = obj.abs()
    peak = amp.amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)
    obj, amp = obj / peak, amp / peak
    thick = smooth.sum(dim=3)
    flipped = torch.roll(torch.flip(thick, dims=(1, 2)), shifts=(1, 1), dims=(1, 2))
    thick = torch.where(twin[:, None, None], flipped, thick)
    support = thick > 0.05 * thick.amax(dim=(1, 2), keepdim=True)
    phase01 = torch.where(support, (obj.angle() + math.pi) / (2 * math.pi),
                          torch.zeros((), dtype=f32))
    intensity = pattern_from_image(obj, cfg.size)
    photons = torch.full((n,), math.nan, dtype=f64)
    if cfg.photons is not None:
        lo, hi = (math.log(v) for v in cfg.photons)
        photons = torch.exp(lo + (hi - lo) * log_ph)
        scale = (photons[:, None, None] / intensity.sum(dim=(1, 2), keepdim=True)).to(f32)
        intensity = torch.poisson(intensity * scale, generator=gen) / scale
    intensity = _gaps(intensity, gap, gap_draw)
    params = torch.cat([torch.ones(n, 1, dtype=f64), t111[:, None], sigma[:, None], amps,
                        kz[:, None], shift, photons[:, None], gap[:, None].to(f64), q,
                        twin[:, None].to(f64)], dim=1)             # t100 = 1: the unit
    return SuperellipsoidBatch(
        intensity=intensity.numpy().astype(np.float32),
        amplitude=amp.numpy().astype(np.float32),
        phase=phase01.numpy().astype(np.float32),
        support=support.numpy(),
        params=params.numpy().astype(np.float32))


def _strain_phase(grid, bend, centre, qhat, amps, noise, inside, k, r_max):
    """The projection of a displacement field on the scattering vector (module
    docstring), each term scaled to its peak phase inside the crystal."""
    n, m = noise.shape[0], noise.shape[1]
    f32 = torch.float32
    r = grid.to(torch.float64) / r_max                               # (N, 3), |r| <= 1
    quad = torch.einsum("ni,kij,nj->kn", r, bend, r)                  # bending
    d = r[None] - centre[:, None, :] / r_max
    dist = d.norm(dim=2).clamp_min(0.25)
    incl = (d * qhat[:, None, :]).sum(2) / dist**3                    # point inclusion
    filt = torch.exp(-2 * math.pi**2 * 8.0**2 * k.square().sum(-1))  # L = 8 px
    corr = torch.fft.ifftn(torch.fft.fftn(noise, dim=(1, 2, 3)) * filt,
                           dim=(1, 2, 3)).real.reshape(n, -1).to(torch.float64)
    flat = inside.reshape(n, -1)
    out = torch.zeros(n, m**3, dtype=torch.float64)
    for j, term in enumerate((quad, incl, corr)):
        term = term - torch.where(flat, term, 0).sum(1, keepdim=True) / flat.sum(1,
                                                                               keepdim=True)
        peak = torch.where(flat, term.abs(), 0).amax(dim=1, keepdim=True).clamp_min(1e-12)
        out += term / peak * amps[:, j:j + 1]
    return out.to(f32).reshape(n, m, m, m)


def _gaps(intensity: torch.Tensor, gap: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
    """Zero a row or column band of 1-3 pixels, 3 or more pixels off the centre, in the
    frames marked ``gap``."""
    size = intensity.shape[-1]
    out = intensity.clone()
    for i in torch.nonzero(gap).flatten().tolist():
        width = 1 + int(draw[i, 0] * 3)
        offset = 3 + int(draw[i, 1] * (size // 2 - 6))
        lo = size // 2 + (offset if draw[i, 2] < 0.5 else -offset - width)
        if draw[i, 2] * 4 % 2 < 1:
            out[i, lo:lo + width, :] = 0
        else:
            out[i, :, lo:lo + width] = 0
    return out

