"""Strong-phase superellipsoid particles and their 2D diffraction patterns (Wu et al. 2021).

Each particle is a 3D superellipsoid (eq. 2) with a Gaussian-correlated random phase
(eq. 3) spanning (-pi, pi) inside it, turned by a random 3D rotation, its edges smoothed
by a Gaussian. The 2D pattern is the central slice ``q_z = 0`` of the 3D diffraction
intensity. By the central-slice theorem that slice is the 2D Fourier transform of the
projection ``o(x, y) = sum_z s(r) exp(i phi(r))``, so the 2D complex image the pattern
determines, and the network's target, is that projection. Particles live on an ``m^3``
grid with ``m = size // 2``; the pattern is ``size x size`` (oversampled twice per axis)
and the targets are ``m x m``.

Everything runs in PyTorch on batches of particles. Particle ``k`` of a dataset depends
only on ``(seed, k // chunk)``, so a dataset can be resumed and extended with the same
result, and two seeds give disjoint sets (training and held-out test data).

The 2D image the intensity determines is only defined up to a global phase and the
"twin" ``conj(o(-r))``; the targets fix both (see :func:`canonical_image`), so that the
mapping from pattern to target is a function a network can learn.

Example
-------
>>> from cdi_plugins.simulate import superellipsoid as se
>>> batch = se.generate(4, seed=0)
>>> batch.intensity.shape, batch.amplitude.shape, batch.phase.shape
((4, 64, 64), (4, 32, 32), (4, 32, 32))
>>> bool(batch.phase.min() >= 0 and batch.phase.max() <= 1)
True
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from tomopy_dlalign.common.h5files import resumable_h5
from tomopy_dlalign.common.progress import progress

from ..physics import farfield_torch

logger = logging.getLogger(__name__)

#: names of the per-particle parameters stored with a dataset, in column order
PARAMETERS = ("a", "b", "c", "e", "n", "Lx", "Ly", "Lz", "sigma",
              "q0", "q1", "q2", "q3", "twin")


@dataclass
class SuperellipsoidConfig:
    """Ranges of the random particle parameters (uniform draws), in pixels.

    Parameters
    ----------
    size : int
        Pattern size ``H = W`` (even); particles and targets are ``size // 2``.
    axes : (float, float)
        Range of the semi-axes ``a, b, c`` of eq. (2) before the particle is scaled to
        fit ``radius``.
    roundness : (float, float)
        Range of the exponents ``e`` and ``n`` of eq. (2) (1 = round, 2 = octahedral,
        below 1 boxy).
    radius : float
        Largest distance of the particle's surface from the centre, as a fraction of
        the particle grid ``m``: particles larger than that, in any orientation, are
        scaled down, so the whole particle and its smoothed edge stay inside the
        target array in any rotation.
    correlation : (float, float)
        Range of the correlation lengths ``L_x, L_y, L_z`` of eq. (3).
    smoothing : (float, float)
        Range of the width of the Gaussian that smooths the edges.
    photons : float or None
        Expected total photons per pattern (Poisson noise); None for noiseless patterns.
    """

    size: int = 64
    axes: tuple[float, float] = (0.15, 0.42)
    roundness: tuple[float, float] = (0.5, 2.0)
    radius: float = 0.40
    correlation: tuple[float, float] = (3.0, 10.0)
    smoothing: tuple[float, float] = (0.5, 1.0)
    photons: float | None = None

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 4:
            raise ValueError(f"size must be a multiple of 4 of at least 16, got {self.size}")
        for name in ("axes", "roundness", "correlation", "smoothing"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < low <= high, got {(lo, hi)}")
            setattr(self, name, (float(lo), float(hi)))
        if not 0 < self.radius <= 0.45:
            raise ValueError(f"radius must be in (0, 0.45] of the particle grid, got "
                             f"{self.radius}")
        if self.photons is not None and self.photons <= 0:
            raise ValueError(f"photons must be positive or None, got {self.photons}")


@dataclass
class SuperellipsoidBatch:
    """Patterns and targets of a batch of particles (NumPy).

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(B, size, size)``, centred (``fftshift`` convention), unitary FFT of the
        projection with its amplitude scaled to a maximum of 1.
    amplitude : numpy.ndarray
        float32 ``(B, m, m)``, projected amplitude, maximum 1.
    phase : numpy.ndarray
        float32 ``(B, m, m)``, projected phase scaled from (-pi, pi] to (0, 1], zero
        outside the particle.
    support : numpy.ndarray
        bool ``(B, m, m)``, the particle (projected thickness above 5 % of its maximum).
    params : numpy.ndarray
        float32 ``(B, len(PARAMETERS))``.
    volume_phase : numpy.ndarray or None
        float32 ``(B, m, m, m)`` 3D phase inside the particle (0 outside), when asked.
    """

    intensity: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    support: np.ndarray
    params: np.ndarray
    volume_phase: np.ndarray | None = field(default=None, repr=False)
    volume: np.ndarray | None = field(default=None, repr=False)

    @property
    def image(self) -> np.ndarray:
        """The complex target ``amplitude * exp(i phase)``, phase back in (-pi, pi]."""
        return complex_image(self.amplitude, self.phase)


def complex_image(amplitude, phase01) -> np.ndarray:
    """``A exp(i (2 pi p - pi))`` from an amplitude and a phase scaled to (0, 1)."""
    return (amplitude * np.exp(1j * (2 * np.pi * phase01 - np.pi))).astype(np.complex64)


def random_rotations(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` rotation matrices drawn uniformly on SO(3) (normalised Gaussian quaternions);
    returns ``(R (n, 3, 3), q (n, 4))``."""
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    R = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=1).reshape(n, 3, 3)
    return R, q


def superellipsoid_radius(p: torch.Tensor, axes: torch.Tensor, e: torch.Tensor,
                          n: torch.Tensor) -> torch.Tensor:
    """The homogeneous "radius" ``rho(p)`` of eq. (2): the particle is ``rho < 1``.

    ``G(p) = (|x/a|^(2/e) + |y/b|^(2/e))^(e/n) + |z/c|^(2/n)`` is homogeneous of degree
    ``2/n`` in ``p``, so ``rho = G^(n/2)`` is homogeneous of degree 1 and
    ``rho(t p) = t rho(p)``: a particle scaled by ``t`` is ``rho < t``.

    Parameters
    ----------
    p : torch.Tensor
        ``(B, N, 3)`` points in the particle's frame, ``(x, y, z)``.
    axes : torch.Tensor
        ``(B, 3)`` semi-axes ``(a, b, c)``.
    e, n : torch.Tensor
        ``(B,)`` roundness exponents.
    """
    return _implicit(p, axes, e, n) ** (n[:, None].to(p.dtype) / 2)


def _implicit(p: torch.Tensor, axes: torch.Tensor, e: torch.Tensor,
              n: torch.Tensor) -> torch.Tensor:
    """``G(p)`` of eq. (2), through logarithms (one ``log`` and three ``exp`` per point
    instead of four ``pow``)."""
    dt = p.dtype
    lu = torch.log((p / axes[:, None, :].to(dt)).abs() + 1e-12)
    e_ = (2 / e[:, None]).to(dt)
    n_ = (2 / n[:, None]).to(dt)
    en = (e / n)[:, None].to(dt)
    xy = torch.exp(lu[..., 0] * e_) + torch.exp(lu[..., 1] * e_)
    return torch.exp(torch.log(xy) * en) + torch.exp(lu[..., 2] * n_)


def fibonacci_sphere(k: int = 600) -> torch.Tensor:
    """``k`` nearly uniform unit vectors ``(k, 3)`` (float64) on the sphere."""
    i = torch.arange(k, dtype=torch.float64) + 0.5
    polar = torch.arccos(1 - 2 * i / k)
    azim = math.pi * (1 + 5**0.5) * i
    return torch.stack([polar.sin() * azim.cos(), polar.sin() * azim.sin(), polar.cos()], 1)


def frequency_grid3(shape: int) -> torch.Tensor:
    """Spatial frequencies (cycles per pixel, FFT order) of a ``shape^3`` grid,
    ``(shape, shape, shape, 3)``."""
    k = torch.fft.fftfreq(shape, dtype=torch.float64)
    return torch.stack(torch.meshgrid(k, k, k, indexing="ij"), dim=-1)  # (m, m, m, 3)


def canonical_image(obj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fix the global phase and the twin of a batch of centred ``(B, m, m)`` images.

    The intensity ``|F(o)|^2`` is the same for ``o``, ``o exp(i c)`` and the twin
    ``conj(o(-r))``. The global phase is fixed by making the zero frequency
    ``F(0) = sum o`` real and positive. The twin is then the one with
    ``t = sum |o| |r|^2 sin(arg o) >= 0`` (the outer parts of the particle ahead in
    phase of its centre); the twin of an image has ``-t``. Returns
    ``(canonical images, bool (B,) True where the twin was taken)``.
    """
    g = obj.sum(dim=(-2, -1))
    obj = obj * (g.conj() / g.abs().clamp_min(1e-30))[:, None, None]
    t = twin_statistic(obj)
    # -r about the centre index m//2 on an even grid: flip, then roll by one
    twin = torch.roll(torch.flip(obj, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1)).conj()
    flip = t < 0
    return torch.where(flip[:, None, None], twin, obj), flip


def twin_statistic(obj: torch.Tensor) -> torch.Tensor:
    """``t = sum |o| |r|^2 sin(arg o)`` of centred ``(B, m, m)`` images whose zero
    frequency is real and positive: ``t >= 0`` for the twin that
    :func:`canonical_image` keeps, and ``-t`` for the other."""
    m = obj.shape[-1]
    c = torch.arange(m, dtype=torch.float64) - m // 2
    r2 = (c[:, None] ** 2 + c[None, :] ** 2).to(obj.real.dtype)
    return (obj.abs() * r2 * torch.sin(obj.angle())).sum(dim=(-2, -1))


def pattern_from_image(obj: torch.Tensor, size: int) -> torch.Tensor:
    """Centred intensity ``|F(o)|^2`` (unitary FFT) of centred ``(B, m, m)`` images
    zero-padded to ``size x size``."""
    f = farfield_torch(obj, size)
    return f.real.square() + f.imag.square()


def generate(n: int, config: SuperellipsoidConfig | None = None, seed: int | None = 0,
             return_volume: bool = False) -> SuperellipsoidBatch:
    """Draw ``n`` random strong-phase superellipsoid particles and their patterns.

    Parameters
    ----------
    n : int
        Number of particles.
    config : SuperellipsoidConfig, optional
        Parameter ranges (default :class:`SuperellipsoidConfig`).
    seed : int or None
        Seed of every random draw; the same seed gives the same batch.
    return_volume : bool
        Also return the 3D complex particles ``(n, m, m, m)`` (``volume``, indexed
        ``(x, y, z)`` in the lab frame, centred at ``m // 2``) and their phase.

    Returns
    -------
    SuperellipsoidBatch

    Notes
    -----
    Shape, eq. (2) of Wu et al. (2021) (the exponent in the first term is ``e/n``):

    ``(|x/a|^(2/e) + |y/b|^(2/e))^(e/n) + |z/c|^(2/n) = 1``

    Phase, eq. (3): white Gaussian noise ``z_u`` convolved with
    ``exp(-x^2/2L_x^2 - y^2/2L_y^2 - z^2/2L_z^2)`` (in the particle's frame, so the
    correlation lengths turn with it), done as a product with
    ``exp(-2 pi^2 k^T R diag(L^2) R^T k)`` in Fourier space; then shifted and scaled
    linearly so that its values inside the particle span (-pi, pi). The shape is
    smoothed by a Gaussian of width ``sigma`` before it multiplies
    ``exp(i phi)``. The pattern is the central slice ``q_z = 0`` of ``|F_3D|^2``,
    computed as the 2D FFT of the projection along ``z`` (central-slice theorem).

    References
    ----------
    L. Wu, P. Juhas, S. Yoo, I. Robinson, "Complex imaging of phase domains by deep
    neural networks", IUCrJ 8, 12-21 (2021).

    Example
    -------
    >>> b = generate(2, seed=1)
    >>> bool(b.amplitude.max() <= 1.0 + 1e-6), b.params.shape
    (True, (2, 14))
    """
    cfg = config or SuperellipsoidConfig()
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    gen = torch.Generator().manual_seed(torch_seed(seed))
    p = _draw(int(n), cfg, gen)
    m = cfg.size // 2
    shape = _shapes(p, m)
    k = frequency_grid3(m).to(torch.float32)  # cycles per pixel, FFT order
    smooth = smoothed(shape, p.sigma, k)
    phi = _phase(p, shape > 0.5, k)
    vol = torch.polar(smooth, phi)
    proj, amp, support, twin = _targets(vol, smooth)
    phase01 = torch.where(support, (proj.angle() + math.pi) / (2 * math.pi),
                          torch.zeros((), dtype=torch.float32))
    intensity = pattern_from_image(proj, cfg.size)
    if cfg.photons is not None:
        scale = cfg.photons / intensity.sum(dim=(1, 2), keepdim=True)
        intensity = torch.poisson(intensity * scale, generator=gen) / scale
    params = torch.cat([p.axes, p.e[:, None], p.n[:, None], p.L, p.sigma[:, None], p.q,
                        twin[:, None].to(torch.float64)], dim=1)
    return SuperellipsoidBatch(
        intensity=intensity.numpy().astype(np.float32),
        amplitude=amp.numpy().astype(np.float32),
        phase=phase01.numpy().astype(np.float32),
        support=support.numpy(),
        params=params.numpy().astype(np.float32),
        volume_phase=torch.where(shape > 0.5, phi, 0).numpy() if return_volume else None,
        volume=vol.numpy() if return_volume else None,
    )


@dataclass
class _Draws:
    """The random parameters of a batch of particles (float64 unless noted)."""

    axes: torch.Tensor   # (n, 3) semi-axes, scaled to fit the radius
    e: torch.Tensor      # (n,) roundness exponents of eq. (2)
    n: torch.Tensor
    L: torch.Tensor      # (n, 3) correlation lengths of eq. (3)
    sigma: torch.Tensor  # (n,) edge smoothing
    R: torch.Tensor      # (n, 3, 3) rotations
    q: torch.Tensor      # (n, 4) their quaternions
    noise: torch.Tensor  # (n, m, m, m) float32 white noise of the phase


def _draw(n: int, cfg: SuperellipsoidConfig, gen: torch.Generator) -> _Draws:
    """Every random draw of ``n`` particles, in a fixed order (same seed, same batch)."""
    m = cfg.size // 2
    dt = torch.float64

    def uniform(lo_hi, *shape):
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=dt)

    axes = uniform(cfg.axes, n, 3) * m
    e = uniform(cfg.roundness, n)
    nn = uniform(cfg.roundness, n)
    L = uniform(cfg.correlation, n, 3)
    sigma = uniform(cfg.smoothing, n)
    R, q = random_rotations(n, gen)
    noise = torch.randn(n, m, m, m, generator=gen, dtype=torch.float32)
    # scale each particle so that its farthest surface point lies within `radius * m`
    dirs = fibonacci_sphere().expand(n, -1, -1)
    r_max = 1.0 / superellipsoid_radius(dirs, axes, e, nn).amin(dim=1)
    axes = axes * (cfg.radius * m / r_max).clamp(max=1.0)[:, None]
    return _Draws(axes, e, nn, L, sigma, R, q, noise)


def _shapes(p: _Draws, m: int) -> torch.Tensor:
    """The particles' indicator ``(n, m, m, m)`` float32 on the lab grid."""
    f32 = torch.float32
    c = torch.arange(m, dtype=f32) - m // 2
    grid = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), dim=-1).reshape(1, -1, 3)
    body = grid @ p.R.to(f32)  # row vectors: r^T R = (R^T r)^T, the particle frame
    return (_implicit(body, p.axes, p.e, p.n) < 1).to(f32).reshape(len(p.R), m, m, m)


def smoothed(shape: torch.Tensor, sigma: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The indicator blurred by a Gaussian of width ``sigma`` (edges of the particle)."""
    k2 = k.square().sum(-1)
    blur = torch.exp((-2 * math.pi**2 * sigma[:, None, None, None] ** 2).to(torch.float32) * k2)
    return torch.fft.ifftn(torch.fft.fftn(shape, dim=(1, 2, 3)) * blur,
                           dim=(1, 2, 3)).real.clamp_min(0)


def _phase(p: _Draws, inside: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Eq. (3): correlated noise spanning (-pi, pi) inside each particle."""
    n, m = inside.shape[0], inside.shape[1]
    # correlation lengths along the particle's axes, rotated into the lab frame
    kb = k.reshape(1, -1, 3) @ p.R.to(torch.float32)  # k in the particle frame
    filt = torch.exp((kb.square() * (-2 * math.pi**2 * p.L[:, None, :] ** 2).to(torch.float32)
                      ).sum(-1))
    field_ = torch.fft.ifftn(torch.fft.fftn(p.noise, dim=(1, 2, 3))
                             * filt.reshape(n, m, m, m), dim=(1, 2, 3)).real
    big = torch.finfo(torch.float32).max
    hi = torch.where(inside, field_, -big).amax(dim=(1, 2, 3))
    lo = torch.where(inside, field_, big).amin(dim=(1, 2, 3))
    mid, half = (hi + lo) / 2, ((hi - lo) / 2).clamp_min(1e-12)
    span = math.pi * (1 - 1e-4)  # strictly inside (-pi, pi)
    return (field_ - mid[:, None, None, None]) / half[:, None, None, None] * span


def _targets(vol: torch.Tensor, smooth: torch.Tensor):
    """The canonical projection, its amplitude (maximum 1), its support and the twin flag."""
    proj = vol.sum(dim=3)  # along z (third index): the image the pattern q_z = 0 sees
    proj, twin = canonical_image(proj)
    amp = proj.abs()
    peak = amp.amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)
    proj = proj / peak
    amp = amp / peak
    thick = smooth.sum(dim=3)
    if bool(twin.any()):
        flipped = torch.roll(torch.flip(thick, dims=(1, 2)), shifts=(1, 1), dims=(1, 2))
        thick = torch.where(twin[:, None, None], flipped, thick)
    support = thick > 0.05 * thick.amax(dim=(1, 2), keepdim=True)
    return proj, amp, support, twin


def torch_seed(seed) -> int:
    """A torch generator seed from any NumPy seed (an int, a list of ints, or None)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0]) >> 1
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]) >> 1


def make_dataset(path: str | os.PathLike, n: int, seed: int,
                 config: SuperellipsoidConfig | None = None, chunk: int = 256,
                 show_progress: bool | None = None, overwrite: bool | None = None) -> Path:
    """Generate (or resume, or extend) an HDF5 file of ``n`` particles.

    Chunk ``j`` (particles ``j * chunk`` to ``(j + 1) * chunk``) is drawn with the seed
    ``[seed, j]``, so an interrupted run resumes where it stopped with the same result,
    and files made with different seeds hold different particles (use one seed for the
    training data and another for the held-out test data).

    The file holds ``intensity`` ``(N, size, size)``, ``amplitude`` and ``phase``
    ``(N, m, m)`` (float32), ``params`` ``(N, 14)`` (columns named in the attribute
    ``parameters``), and the attributes ``config`` (JSON), ``seed``, ``chunk`` and
    ``done`` (particles complete).

    The run survives a kill at any instant: the file appears complete with its
    parameters and no particle (written under a temporary name, then renamed), and a
    chunk counts once ``done`` is updated. Only a file made by ``make_dataset``
    (attribute ``created_by``) is written into; any other existing file is refused, and
    so is a read-only one unless ``overwrite``.

    Parameters
    ----------
    path : str or path
        Output file; an existing file made with the same config, seed and chunk is
        resumed.
    n : int
        Particles wanted (a multiple of ``chunk`` is not needed).
    seed : int
        Seed of the dataset.
    config : SuperellipsoidConfig or FacetedConfig, optional
        The generator and its ranges: superellipsoids (default), or the faceted
        crystals of :mod:`cdi_plugins.simulate.faceted`.
    chunk : int
        Particles per generated and written block.
    show_progress : bool, optional
        Progress bar (default: only on a terminal).
    overwrite : bool, optional
        Write into a read-only dataset file (default: the ``--overwrite`` setting).

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> import tempfile, os
    >>> p = make_dataset(os.path.join(tempfile.mkdtemp(), "d.h5"), 8, seed=3, chunk=4)
    >>> import h5py; h5py.File(p)["intensity"].shape
    (8, 64, 64)
    """
    cfg = config or SuperellipsoidConfig()
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if int(chunk) < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    path = Path(path)
    ident = {"config": json.loads(json.dumps(asdict(cfg))), "seed": int(seed),
             "chunk": int(chunk)}
    with resumable_h5(path, MARKER, _skeleton(cfg, int(seed), int(chunk)),
                      ("intensity", "amplitude", "phase", "params"), overwrite) as f:
        stored = {"config": json.loads(f.attrs["config"]), "seed": int(f.attrs["seed"]),
                  "chunk": int(f.attrs["chunk"])}
        if stored != ident:
            raise ValueError(f"{str(path)!r} was made with another configuration, seed "
                             f"or chunk ({stored}); choose a new file name")
        done = int(f.attrs["done"])
        # restart at a chunk boundary: a chunk is the unit of reproducibility
        done -= done % chunk
        if done:
            logger.info("resuming %s after %d of %d particles", path, done, n)
        todo = range(done // chunk, -(-n // chunk))
        bar = progress(todo, "make-dataset", show_progress, total=len(todo))
        for j in bar:
            lo, hi = j * chunk, min((j + 1) * chunk, n)
            b = _draw_batch(cfg, chunk, [int(seed), j])
            k = hi - lo
            for name, arr in (("intensity", b.intensity), ("amplitude", b.amplitude),
                              ("phase", b.phase), ("params", b.params)):
                f[name].resize(hi, axis=0)
                f[name][lo:hi] = arr[:k]
            f.flush()  # the chunk is on disk before it is counted
            f.attrs["done"] = hi
            f.flush()
            if (j + 1) % 20 == 0:
                logger.info("make-dataset: %d/%d particles", hi, n)
    return path


#: the ``created_by`` attribute of a file made by :func:`make_dataset`
MARKER = "cdi_plugins make-dataset"


def _draw_batch(cfg, n: int, seed) -> SuperellipsoidBatch:
    """``n`` particles of either generator: superellipsoids, or the faceted crystals of
    :mod:`cdi_plugins.simulate.faceted` (a config with a ``draw`` method)."""
    if isinstance(cfg, SuperellipsoidConfig):
        return generate(n, cfg, seed=seed)
    return cfg.draw(n, seed)


def _parameters(cfg) -> tuple[str, ...]:
    return PARAMETERS if isinstance(cfg, SuperellipsoidConfig) else cfg.parameters


def _skeleton(cfg: SuperellipsoidConfig, seed: int, chunk: int):
    """What a new dataset file holds before its first chunk: the parameters and empty
    datasets."""
    m = cfg.size // 2

    def build(f: h5py.File) -> None:
        f.attrs["config"] = json.dumps(asdict(cfg))
        f.attrs["seed"] = seed
        f.attrs["chunk"] = chunk
        f.attrs["parameters"] = json.dumps(_parameters(cfg))
        f.attrs["done"] = 0
        for name, tail in (("intensity", (cfg.size, cfg.size)), ("amplitude", (m, m)),
                           ("phase", (m, m)), ("params", (len(_parameters(cfg)),))):
            f.create_dataset(name, (0, *tail), np.float32, maxshape=(None, *tail),
                             chunks=(min(chunk, 256), *tail))
    return build


def read_dataset(path: str | os.PathLike, n: int | None = None) -> dict:
    """Read the complete particles of a file written by :func:`make_dataset`.

    Returns a dict with ``intensity``, ``amplitude``, ``phase``, ``params`` (NumPy, the
    first ``n`` or all complete particles), ``config``, ``seed`` and ``path``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        if "config" not in f.attrs or "intensity" not in f:
            raise ValueError(f"{str(path)!r} is not a superellipsoid dataset "
                             f"(made by `cdi-plugins cnn make-dataset`)")
        done = int(f.attrs["done"])
        k = done if n is None else min(int(n), done)
        if k == 0:
            raise ValueError(f"dataset {str(path)!r} holds no complete particle")
        out = {name: f[name][:k] for name in ("intensity", "amplitude", "phase", "params")}
        out["config"] = json.loads(f.attrs["config"])
        out["seed"] = int(f.attrs["seed"])
    out["path"] = str(path)
    return out
