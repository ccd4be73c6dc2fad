"""Faceted, strained crystals: whole in 3D (:func:`faceted_crystal_3d`, a Bragg CDI
object), or seen as measured Bragg CDI frames (:func:`generate`), the complex CNN's
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
>>> faceted.faceted_crystal_3d(64, extent=0.3, seed=0).obj.shape
(64, 64, 64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from tomopy_dlalign.common.validation import check_seed

from .objects import check_extent
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
#: a 3D crystal's amplitude is 0 farther than this many widths of its rounding blur,
#: plus a voxel, from its polyhedron (:func:`faceted_crystal_3d`)
TAIL_SIGMAS = 3.0


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
    f64, f32 = torch.float64, torch.float32
    draws = _draw_crystals(n, cfg, gen, m)
    kz = _uniform(gen, (-cfg.rocking, cfg.rocking), n)
    shift = _uniform(gen, (-cfg.offcentre, cfg.offcentre), n, 2)
    log_ph = _uniform(gen, (0.0, 1.0), n)
    gap = torch.rand(n, generator=gen, dtype=f64) < cfg.gap_fraction
    gap_draw = torch.rand(n, 3, generator=gen, dtype=f64)
    smooth, phi, _ = _crystals(draws, cfg.radius * m)
    vol = torch.polar(smooth, phi)
    # the frame off the rocking maximum, and its zero frequency off the array centre
    z = torch.arange(m, dtype=f64) - m // 2
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
    params = torch.cat([torch.ones(n, 1, dtype=f64), draws.t111[:, None],
                        draws.sigma[:, None], draws.amps, kz[:, None], shift,
                        photons[:, None], gap[:, None].to(f64), draws.q,
                        twin[:, None].to(f64)], dim=1)             # t100 = 1: the unit
    return SuperellipsoidBatch(
        intensity=intensity.numpy().astype(np.float32),
        amplitude=amp.numpy().astype(np.float32),
        phase=phase01.numpy().astype(np.float32),
        support=support.numpy(),
        params=params.numpy().astype(np.float32))


@dataclass
class FacetedCrystal:
    """What :func:`faceted_crystal_3d` returns.

    Attributes
    ----------
    obj : numpy.ndarray
        complex64 ``(D, H, W)``, ``amplitude * exp(1j * phase)``, peak amplitude 1.
    support : numpy.ndarray
        bool ``(D, H, W)``, the polyhedron before its edges are rounded (on a flat facet
        the rounded amplitude is 0.5).
    phase : numpy.ndarray
        float32 ``(D, H, W)``, the strain phase in radians, not wrapped (defined in the
        whole box, meaningful where the amplitude is).
    corner_radius : float
        Distance in voxels of the polyhedron's farthest corner from the centre voxel,
        ``extent * shape / 2``.
    params : dict
        The drawn parameters: ``t111`` (the {111} facets' distance over the {100}
        facets', before asymmetry), ``sigma`` (voxels of the rounding blur), ``bend``,
        ``inclusion``, ``field`` (peak phases, radians), ``rotation`` (unit quaternion
        ``w, x, y, z`` from the crystal's frame).
    """

    obj: np.ndarray
    support: np.ndarray
    phase: np.ndarray
    corner_radius: float
    params: dict


def faceted_crystal_3d(shape: int = 64, extent: float = 0.3, seed: int | None = 0,
                       config: FacetedConfig | None = None) -> FacetedCrystal:
    """A faceted, strained 3D Bragg nanocrystal, centred in a cubic box.

    The crystal that :func:`generate` projects into its frames (module docstring), whole:
    a convex polyhedron bounded by {100} and {111} facets, each at its own distance from
    the centre, randomly oriented, its edges rounded by a Gaussian blur, and its strain
    phase (bending, point inclusion, correlated field). Both functions build it with the
    same code from the same draws.

    Its size is set by its farthest corner, ``extent * shape / 2`` voxels from the centre
    voxel ``shape // 2`` (found over 2000 directions, so the true corner may lie up to a
    few percent farther): the polyhedron spans at most ``extent`` of the box in any
    direction. The rounding blur (width ``sigma``, 0.3-0.8 voxels by default) widens it;
    the amplitude is set to 0 farther than :data:`TAIL_SIGMAS` ``* sigma + 1`` voxels
    from the polyhedron (the blur's tail and the ringing of the voxelised edge, both
    under 1 % of the peak), so the crystal spans at most ``extent * shape + 6 sigma + 2``
    voxels along any axis. In a 64^3 box an ``extent`` of 0.4 or less keeps its pattern
    oversampled at least twice per axis; a smaller box needs a smaller ``extent``, the
    rounding being a width in voxels.

    Parameters
    ----------
    shape : int
        Box size, even, >= 8: the box is ``(shape, shape, shape)``.
    extent : float
        The crystal's largest diameter (twice its corner radius) as a fraction of the
        box, in (0, 0.5], and at least 4 voxels.
    seed : int, optional
        Seed (0 or more) of every draw; None: fresh entropy.
    config : FacetedConfig, optional
        The ranges of the facets (``truncation``, ``asymmetry``), the rounding
        (``smoothing``) and the phase (``bending``, ``inclusion``, ``field``); its
        frame settings (``size``, ``radius``, ``rocking``, ``offcentre``, ``photons``,
        ``gap_fraction``) play no part here. Default ``FacetedConfig()``.

    Returns
    -------
    FacetedCrystal
        ``obj`` (complex64, peak amplitude 1), ``support`` (bool), ``phase`` (radians),
        ``corner_radius`` and the drawn ``params``.

    Raises
    ------
    ValueError
        A ``shape`` that is not an even integer >= 8, an ``extent`` outside (0, 0.5] or
        under 4 voxels, a negative ``seed``.
    TypeError
        A ``config`` that is not a :class:`FacetedConfig`.

    Example
    -------
    >>> c = faceted_crystal_3d(32, extent=0.4, seed=0)
    >>> c.obj.shape, c.obj.dtype, round(float(np.abs(c.obj).max()), 5), c.support.dtype
    ((32, 32, 32), dtype('complex64'), 1.0, dtype('bool'))
    """
    if (isinstance(shape, bool) or not isinstance(shape, (int, np.integer)) or shape < 8
            or shape % 2):
        raise ValueError(f"shape must be an even integer >= 8 (the box is shape^3), got "
                         f"{shape!r}")
    shape = int(shape)
    extent = check_extent(extent)
    if extent * shape < 4:
        raise ValueError(f"extent must span at least 4 voxels of the box, got extent="
                         f"{extent} of shape={shape} ({extent * shape:.3g} voxels)")
    seed = check_seed(seed)
    if config is None:
        config = FacetedConfig()
    elif not isinstance(config, FacetedConfig):
        raise TypeError(f"config must be a FacetedConfig or None, got "
                        f"{type(config).__name__}")
    r_max = extent * shape / 2
    gen = torch.Generator().manual_seed(torch_seed(seed))
    draws = _draw_crystals(1, config, gen, shape)
    smooth, phi, inside = _crystals(draws, r_max)
    support = inside[0].numpy()
    amp = (smooth[0] / smooth[0].amax().clamp_min(1e-30)).numpy()
    # the blur's tail and the ringing of a voxelised edge (under 1 % of the peak) would
    # otherwise fill the box, which a measured crystal's does not
    sigma = float(draws.sigma[0])
    amp[ndimage.distance_transform_edt(~support) > TAIL_SIGMAS * sigma + 1] = 0
    obj = torch.polar(torch.from_numpy(amp), phi[0])
    params = {"t111": float(draws.t111[0]), "sigma": sigma,
              **{k: float(v) for k, v in zip(("bend", "inclusion", "field"), draws.amps[0],
                                             strict=True)},
              "rotation": draws.q[0].tolist()}
    return FacetedCrystal(obj=obj.numpy().astype(np.complex64), support=support,
                          phase=phi[0].numpy(), corner_radius=r_max, params=params)


def _uniform(gen: torch.Generator, lo_hi, *shape) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=torch.float64)


@dataclass
class _CrystalDraws:
    """The random draws of ``n`` crystals on an ``m^3`` grid (in :func:`_draw_crystals`'s
    order, which fixes every crystal a seed gives)."""

    t111: torch.Tensor       # (n,) {111} over {100} facet distance
    dist: torch.Tensor       # (n, 14) facet distances, unscaled
    sigma: torch.Tensor      # (n,) rounding blur, voxels
    amps: torch.Tensor       # (n, 3) peak phases of bending, inclusion, field
    R: torch.Tensor          # (n, 3, 3) rotations
    q: torch.Tensor          # (n, 4) their quaternions
    bend: torch.Tensor       # (n, 3, 3) bending's quadratic form
    centre: torch.Tensor     # (n, 3) inclusion, in units of the corner radius
    qhat: torch.Tensor       # (n, 3) unit scattering vectors
    noise: torch.Tensor      # (n, m, m, m) white noise of the correlated field


def _draw_crystals(n: int, cfg: FacetedConfig, gen: torch.Generator, m: int) -> _CrystalDraws:
    f64 = torch.float64
    t111 = _uniform(gen, cfg.truncation, n)
    dist = torch.cat([torch.ones(n, 3, dtype=f64), t111[:, None].expand(n, 4)], dim=1)
    dist = torch.cat([dist, dist], dim=1) * _uniform(
        gen, (1 - cfg.asymmetry, 1 + cfg.asymmetry), n, 14)
    sigma = _uniform(gen, cfg.smoothing, n)
    amps = torch.stack([_uniform(gen, cfg.bending, n), _uniform(gen, cfg.inclusion, n),
                        _uniform(gen, cfg.field, n)], dim=1)
    R, q = random_rotations(n, gen)
    bend = torch.randn(n, 3, 3, generator=gen, dtype=f64)
    centre = _uniform(gen, (-0.4, 0.4), n, 3)
    qhat = torch.randn(n, 3, generator=gen, dtype=f64)
    qhat = qhat / qhat.norm(dim=1, keepdim=True)
    noise = torch.randn(n, m, m, m, generator=gen, dtype=torch.float32)
    return _CrystalDraws(t111=t111, dist=dist, sigma=sigma, amps=amps, R=R, q=q, bend=bend,
                         centre=centre, qhat=qhat, noise=noise)


def _crystals(draws: _CrystalDraws, r_max: float
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The crystals of ``draws``, each scaled so that its farthest corner lies ``r_max``
    voxels from the centre voxel: rounded amplitudes and strain phases ``(n, m, m, m)``
    (float32) and the polyhedra (bool)."""
    n, m = draws.noise.shape[0], draws.noise.shape[1]
    f64, f32 = torch.float64, torch.float32
    normals = torch.cat([_NORMALS, -_NORMALS])                    # (14, 3)
    dirs = fibonacci_sphere(2000)
    proj = dirs @ normals.T                                         # (k, 14)
    reach = torch.where(proj[None] > 1e-9,
                        draws.dist[:, None, :] / proj[None].clamp_min(1e-9),
                        torch.full((), math.inf, dtype=f64)).amin(dim=2)   # (n, k)
    dist = draws.dist * (r_max / reach.amax(dim=1))[:, None]
    c = torch.arange(m, dtype=f32) - m // 2
    grid = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1).reshape(1, -1, 3)
    body = grid @ draws.R.to(f32)                                   # the crystal's frame
    inside = ((body @ normals.T.to(f32)) <= dist[:, None, :].to(f32)).all(dim=2)
    inside = inside.reshape(n, m, m, m)
    k = frequency_grid3(m).to(f32)
    smooth = smoothed(inside.to(f32), draws.sigma, k)
    phi = _strain_phase(grid[0], draws.bend, draws.centre * r_max, draws.qhat, draws.amps,
                        draws.noise, inside, k, r_max)
    return smooth, phi, inside


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

