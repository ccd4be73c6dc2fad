"""Phasing algorithms (ER, HIO, RAAR, OSS) and schedules that chain them.

An algorithm is a small object with a :meth:`Algorithm.step` that maps the batch of
iterates ``rho`` ``(n_runs, H, W)`` (``(n_runs, D, H, W)`` in 3D) to the next one
using the projections of :class:`cdi_plugins.phasing.constraints.Constraints`. The host
(:func:`cdi_plugins.phase_retrieval`) owns the loop, chi^2, shrink-wrap and progress;
the algorithms stay small, and a third party adds one by registering a class under the
plugin kind ``phasing`` (see :mod:`cdi_plugins.hooks`).

Schedules
---------
Algorithms compose into a :class:`Schedule`, read **left to right** (the order in which
the blocks run)::

    (HIO(0.9)**80 * ER()**20)**6        # 6 x (80 HIO then 20 ER)
    as_schedule([("HIO", 80), ("ER", 20)] * 6)
    parse_schedule("(HIO(0.9)**80*ER**20)**6")

``A**n`` runs ``A`` for ``n`` iterations, ``S * T`` runs ``S`` then ``T`` and ``S**k``
repeats a schedule. (PyNX reads its operator chains right to left, as operator
composition; this package reads them in the order written.)

Example
-------
>>> from cdi_plugins.phasing.algorithms import ER, HIO, parse_schedule
>>> s = (HIO(0.9)**80 * ER()**20)**2
>>> len(s), str(s)
(200, 'HIO(0.9)**80 * ER**20 * HIO(0.9)**80 * ER**20')
>>> str(parse_schedule("(HIO(0.9)**80*ER**20)**2")) == str(s)
True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from numbers import Integral

import numpy as np
import torch

from .constraints import Constraints

logger = logging.getLogger(__name__)


class Algorithm:
    """Base class of a phasing algorithm; subclasses implement :meth:`step`.

    The host calls, for each block of ``n_iter`` iterations run by this algorithm,
    :meth:`start` once, then for ``k = 0 .. n_iter-1`` ``rho, est = step(rho, ops, k)``,
    computes the chi^2 of the estimate ``est`` (the reconstruction the iterate stands
    for, ``P_S P_M rho`` for the algorithms here) and calls
    ``rho, est, chi2 = observe(rho, est, chi2, k)``. After a shrink-wrap update it calls
    :meth:`support_changed`. The chi^2 of an estimate costs one more FFT unless the
    estimate is the next iterate (ER), so the host computes it only every few
    iterations for an algorithm that does not need it (``needs_chi2`` False).
    """

    #: name shown in schedules and logs
    name = "algorithm"
    #: True when ``step`` returns the estimate itself as the next iterate (ER): the host
    #: then reuses the FFT taken for chi^2 in the next modulus projection
    returns_estimate = False
    #: True when :meth:`observe` must see the chi^2 of every iteration (OSS)
    needs_chi2 = False

    def start(self, ops: Constraints, n_iter: int) -> None:
        """Prepare a block of ``n_iter`` iterations (default: nothing)."""

    def step(self, rho: torch.Tensor, ops: Constraints,
             k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the next iterate of every run and its estimate."""
        raise NotImplementedError

    def observe(self, rho: torch.Tensor, estimate: torch.Tensor, chi2: torch.Tensor,
                k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """See the chi^2 of the new estimate; may replace iterate, estimate and chi^2
        (default: keep them)."""
        return rho, estimate, chi2

    def support_changed(self) -> None:
        """The support was just updated by shrink-wrap (default: nothing)."""

    def params(self) -> dict:
        """Parameters, for provenance and ``repr``."""
        return {}

    def __str__(self) -> str:
        p = self.params()
        return f"{self.name}({', '.join(f'{v:g}' for v in p.values())})" if p else self.name

    __repr__ = __str__

    def __pow__(self, n_iter: int) -> Schedule:
        return Schedule([(self, n_iter)])

    def __mul__(self, other) -> Schedule:
        return Schedule([(self, 1)]) * other


def _check_beta(beta: float, name: str) -> float:
    beta = float(beta)
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"{name} beta must be in (0, 1], got {beta}")
    return beta


def _estimate(keep: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """``P_S P_M rho``: the constrained modulus projection, zero elsewhere."""
    return torch.where(keep, inside, torch.zeros((), dtype=inside.dtype, device=inside.device))


class ER(Algorithm):
    """Error reduction (Gerchberg-Saxton-Fienup): ``rho' = P_S P_M rho``.

    References
    ----------
    J. R. Fienup, "Phase retrieval algorithms: a comparison", Appl. Opt. 21, 2758 (1982).
    """

    name = "ER"
    returns_estimate = True

    def step(self, rho, ops, k):
        est = ops.estimate(ops.modulus(rho, scratch=True))
        return est, est


class HIO(Algorithm):
    """Hybrid input-output: where ``y = P_M rho`` obeys the constraints ``rho' = y``,
    elsewhere ``rho' = rho - beta y``.

    References
    ----------
    J. R. Fienup, Appl. Opt. 21, 2758 (1982).
    """

    name = "HIO"
    default_beta = 0.9

    def __init__(self, beta: float | None = None) -> None:
        self.beta = _check_beta(self.default_beta if beta is None else beta, self.name)

    def params(self):
        return {"beta": self.beta}

    def coefficients(self) -> tuple[float, float]:
        """``(a, b)`` of the update where ``y`` violates the constraints,
        ``rho' = a rho + b y``."""
        return 1.0, -self.beta

    def outside(self, rho, y):
        """The update where ``y`` violates the constraints."""
        a, b = self.coefficients()
        return a * rho + b * y

    def step(self, rho, ops, k):
        if type(self).outside is HIO.outside:  # a + b form: one fused pass on the CPU
            return ops.update(rho, ops.modulus(rho, scratch=True), *self.coefficients())
        y = ops.modulus(rho)
        keep = ops.accept(y)
        inside = ops.inside(y)
        return torch.where(keep, inside, self.outside(rho, y)), _estimate(keep, inside)


class RAAR(HIO):
    """Relaxed averaged alternating reflections,
    ``rho' = [beta/2 (R_S R_M + 1) + (1 - beta) P_M] rho``: ``y = P_M rho`` where the
    constraints hold, ``beta rho + (1 - 2 beta) y`` elsewhere.

    References
    ----------
    D. R. Luke, "Relaxed averaged alternating reflections for diffraction imaging",
    Inverse Problems 21, 37 (2005).
    """

    name = "RAAR"
    default_beta = 0.75

    def coefficients(self):
        return self.beta, 1 - 2 * self.beta


class OSS(HIO):
    """Oversampling smoothness: HIO whose outside-support density is low-pass filtered.

    After each HIO update the density outside the support (the inside set to zero) is
    replaced by its convolution with a Gaussian applied in Fourier space,
    ``W(k) = exp(-k^2 / (2 alpha^2))`` with ``k`` in Fourier pixels. ``alpha`` steps
    linearly from ``alpha_max`` (default ``N``, almost no smoothing) down to
    ``alpha_min`` (default ``1/N``, only the mean survives) over ``n_stages`` equal
    stages; at the end of each stage every run restarts from the iterate of that stage
    with the lowest chi^2.

    References
    ----------
    J. A. Rodriguez, R. Xu, C.-C. Chen, Y. Zou and J. Miao, "Oversampling smoothness: an
    effective algorithm for phase retrieval of noisy diffraction intensities",
    J. Appl. Cryst. 46, 312 (2013).
    """

    name = "OSS"
    needs_chi2 = True

    def __init__(self, beta: float = 0.9, n_stages: int = 10, alpha_max: float | None = None,
                 alpha_min: float | None = None) -> None:
        super().__init__(beta)
        if int(n_stages) < 1:
            raise ValueError(f"OSS n_stages must be at least 1, got {n_stages}")
        self.n_stages = int(n_stages)
        self.alpha_max = alpha_max
        self.alpha_min = alpha_min

    def params(self):
        return {"beta": self.beta}

    def start(self, ops, n_iter):
        n = max(ops.shape)
        hi = float(self.alpha_max) if self.alpha_max is not None else float(n)
        lo = float(self.alpha_min) if self.alpha_min is not None else 1.0 / n
        stages = min(self.n_stages, n_iter)
        self._alphas = np.linspace(hi, lo, stages)
        # stage s covers iterations [bounds[s], bounds[s+1])
        self._bounds = np.linspace(0, n_iter, stages + 1).round().astype(int)
        self._stage = -1
        self._best = None
        self._best_chi2 = None

    def _stage_of(self, k: int) -> int:
        return int(np.searchsorted(self._bounds, k, side="right") - 1)

    def step(self, rho, ops, k):
        stage = self._stage_of(k)
        if stage != self._stage:
            self._stage = stage
            self._window = ops.fourier_gaussian(float(self._alphas[stage]))
            logger.debug("OSS stage %d/%d, alpha=%.4g", stage + 1, len(self._alphas),
                         self._alphas[stage])
        new, est = super().step(rho, ops, k)
        # filter the outside density alone: inside density leaking across the support edge
        # through the filter makes OSS diverge once shrink-wrap tightens the support
        outside = torch.where(ops.support, torch.zeros((), dtype=new.dtype, device=new.device),
                              new)
        smooth = ops.ifft(ops.fft(outside) * self._window)
        return torch.where(ops.support, new, smooth), est

    def observe(self, rho, estimate, chi2, k):
        if self._best is None:
            self._best = (rho, estimate, chi2)
        else:
            better = chi2 < self._best[2]
            b3 = better.reshape(-1, *(1,) * (rho.ndim - 1))
            self._best = (torch.where(b3, rho, self._best[0]),
                          torch.where(b3, estimate, self._best[1]),
                          torch.where(better, chi2, self._best[2]))
        if k + 1 == self._bounds[self._stage + 1]:
            rho, estimate, chi2 = self._best
            self._best = None
        return rho, estimate, chi2

    def support_changed(self):
        # iterates kept from before the update belong to the old support
        self._best = None


class Schedule:
    """A sequence of ``(algorithm, n_iter)`` blocks run left to right.

    Build one with operators (``HIO(0.9)**80 * ER()**20``), from a list of
    ``(name or algorithm, n_iter)`` pairs with :func:`as_schedule`, or from a string with
    :func:`parse_schedule`.
    """

    def __init__(self, steps: Iterable[tuple[Algorithm, int]]) -> None:
        out = []
        for alg, n in steps:
            if not isinstance(alg, Algorithm):
                raise TypeError(f"schedule entries must hold Algorithm objects, got {alg!r}")
            if int(n) < 1 or int(n) != n:
                raise ValueError(f"iteration counts must be positive integers, got {n!r}")
            out.append((alg, int(n)))
        self.steps: tuple[tuple[Algorithm, int], ...] = tuple(out)

    def __len__(self) -> int:
        return sum(n for _, n in self.steps)

    def __iter__(self) -> Iterator[tuple[Algorithm, int]]:
        return iter(self.steps)

    def __mul__(self, other) -> Schedule:
        if isinstance(other, Algorithm):
            other = Schedule([(other, 1)])
        if not isinstance(other, Schedule):
            return NotImplemented
        return Schedule(self.steps + other.steps)

    def __pow__(self, repeat: int) -> Schedule:
        if int(repeat) < 1:
            raise ValueError(f"a schedule can be repeated a positive number of times, got {repeat}")
        return Schedule(self.steps * int(repeat))

    def __str__(self) -> str:
        return " * ".join(f"{alg}**{n}" for alg, n in self.steps)

    __repr__ = __str__

    def compact(self) -> str:
        """The schedule as a string with consecutive repeats folded,
        ``(HIO(0.9)**80 * ER**20)**6`` rather than six copies; :func:`parse_schedule`
        reads it back to the same blocks.

        Example
        -------
        >>> (HIO()**80 * ER()**20)**3 * ER()**5
        HIO(0.9)**80 * ER**20 * HIO(0.9)**80 * ER**20 * HIO(0.9)**80 * ER**20 * ER**5
        >>> ((HIO()**80 * ER()**20)**3 * ER()**5).compact()
        '(HIO(0.9)**80 * ER**20)**3 * ER**5'
        """
        words = [f"{alg}**{n}" for alg, n in self.steps]
        parts, i = [], 0
        while i < len(words):
            best = (1, 1)  # (period, repeats) covering the most blocks from i
            for period in range(1, (len(words) - i) // 2 + 1):
                k = 1
                while words[i + k * period:i + (k + 1) * period] == words[i:i + period]:
                    k += 1
                if k > 1 and period * k > best[0] * best[1]:
                    best = (period, k)
            period, k = best
            unit = " * ".join(words[i:i + period])
            parts.append(f"({unit})**{k}" if k > 1 else unit)
            i += period * k
        return " * ".join(parts)


def make_algorithm(name: str, *args: float, **kwargs) -> Algorithm:
    """Build the phasing algorithm registered as ``name`` (case-insensitive).

    Algorithms are looked up in the plugin registry (kind ``phasing``), so that one added
    by a third-party plugin is found like the built-in ones.
    """
    from tomopy_dlalign import plugins

    key = name.strip().lower()
    try:
        factory = plugins.get("phasing", key)
    except KeyError:
        raise ValueError(
            f"algorithm must be one of {plugins.available('phasing')} (or a schedule), "
            f"got {name!r}"
        ) from None
    alg = factory(*args, **kwargs)
    if not isinstance(alg, Algorithm):
        raise TypeError(f"phasing plugin {key!r} built {type(alg).__name__}, not an Algorithm")
    return alg


def as_schedule(spec, n_iter: int | None = None) -> Schedule:
    """Turn a schedule specification into a :class:`Schedule`.

    Parameters
    ----------
    spec : str, Algorithm, Schedule or list of (name or Algorithm, int)
        An algorithm name (``"oss"``), a schedule string (``"(HIO**80*ER**20)**6"``), an
        algorithm object, a schedule, or a list of pairs.
    n_iter : int, optional
        Iterations for a single algorithm. Must match the total of a full schedule (to
        run a schedule for another number of iterations, pass it through
        :func:`scale_schedule`).

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        ``n_iter`` below 1, or a full schedule whose total is not ``n_iter``: the message
        gives the scaled schedule to pass instead.

    Example
    -------
    >>> str(as_schedule([("HIO", 2), ("ER", 1)]))
    'HIO(0.9)**2 * ER**1'
    >>> len(as_schedule("raar", n_iter=50))
    50
    """
    default_iter = 500
    if n_iter is not None and (isinstance(n_iter, bool) or not isinstance(n_iter, Integral)
                               or n_iter < 1):
        raise ValueError(f"n_iter must be a positive integer (or None for the default "
                         f"{default_iter}), got {n_iter!r}")
    if isinstance(spec, Schedule):
        sched = spec
    elif isinstance(spec, Algorithm):
        sched = Schedule([(spec, n_iter or default_iter)])
    elif isinstance(spec, str):
        if re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*", spec):
            return Schedule([(make_algorithm(spec), n_iter or default_iter)])
        sched = parse_schedule(spec)
    elif isinstance(spec, (list, tuple)):
        pairs = []
        for item in spec:
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise ValueError(f"schedule list entries must be (algorithm, n_iter), got {item!r}")
            alg, n = item
            pairs.append((make_algorithm(alg) if isinstance(alg, str) else alg, n))
        sched = Schedule(pairs)
    else:
        raise TypeError(
            "algorithm must be a name, a schedule string, an Algorithm, a Schedule or a list of "
            f"(name, n_iter) pairs, got {type(spec).__name__}"
        )
    if n_iter is not None and n_iter != len(sched) and not isinstance(spec, Algorithm):
        raise ValueError(_disagreement(sched, n_iter))
    return sched


def _disagreement(sched: Schedule, n_iter: int) -> str:
    """What to pass instead of a schedule and an ``n_iter`` that disagree."""
    text = (f"n_iter={n_iter} disagrees with the schedule's {len(sched)} iterations "
            f"({sched.compact()}): pass n_iter=None to run the schedule as given")
    if n_iter < len(sched.steps):
        return (f"{text}, or a schedule of {n_iter} iterations (it has {len(sched.steps)} "
                f"blocks, so it cannot be scaled to fewer than {len(sched.steps)})")
    return (f"{text}, or, for {n_iter} iterations in its proportions, "
            f"algorithm=\"{scale_schedule(sched, n_iter).compact()}\" (what "
            f"cdi_plugins.phasing.scale_schedule(schedule, {n_iter}) returns)")


def scale_schedule(spec, n_iter: int) -> Schedule:
    """The schedule ``spec`` run for ``n_iter`` iterations in its own proportions.

    Every block (an algorithm and its iteration count, in order) keeps its share of the
    total, rounded to whole iterations, with at least 1 iteration per block, and the
    counts add up to exactly ``n_iter``. Blocks whose share would fall below one
    iteration get one; the others share the rest in proportion to their counts, and the
    iterations left by rounding down go to the largest remainders (the earlier block on
    a tie). The blocks, their order and the support updates after each ER block stay as
    they are.

    Parameters
    ----------
    spec : str, Schedule or list of (name, n_iter)
        Any schedule :func:`as_schedule` accepts.
    n_iter : int
        Total iterations wanted; at least the number of blocks.

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        ``n_iter`` below the number of blocks (each needs one iteration).

    Example
    -------
    >>> str(scale_schedule("HIO**80 * ER**20", 50))
    'HIO(0.9)**40 * ER**10'
    >>> s = scale_schedule("HIO**200 * (HIO**40 * ER**5)**20 * ER**100", 100)
    >>> len(s), len(s.steps)
    (100, 42)
    """
    sched = as_schedule(spec)
    if isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
    counts = np.array([n for _, n in sched.steps], dtype=float)
    if n_iter < len(counts):
        raise ValueError(f"n_iter={n_iter} is fewer than the schedule's {len(counts)} blocks "
                         f"({sched.compact()}): each block needs at least 1 iteration")
    # blocks whose share falls below one iteration get one; the others share the rest
    fixed = np.zeros(len(counts), bool)
    while True:
        share = (n_iter - fixed.sum()) * counts / counts[~fixed].sum()
        small = ~fixed & (share < 1)
        if not small.any():
            break
        fixed |= small
    out = np.where(fixed, 1, np.floor(share)).astype(int)
    left = n_iter - out.sum()
    remainder = np.where(fixed, -1.0, share - np.floor(share))
    out[np.argsort(-remainder, kind="stable")[:left]] += 1
    return Schedule([(alg, int(n)) for (alg, _), n in zip(sched.steps, out, strict=True)])


_TOKEN = re.compile(r"\s*(?:(\*\*)|(\*)|(\()|(\))|(,)|([A-Za-z_][A-Za-z0-9_]*)|"
                    r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    kinds = ("pow", "mul", "lpar", "rpar", "comma", "name", "num")
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse schedule {text!r} at position {pos}: {text[pos:]!r}")
        kind = next(k for k, g in zip(kinds, m.groups(), strict=True) if g is not None)
        out.append((kind, m.group(m.lastindex)))
        pos = m.end()
    return out


def parse_schedule(text: str) -> Schedule:
    """Parse an operator-form schedule string, e.g. ``"(HIO(0.9)**80*ER**20)**6*OSS**500"``.

    Grammar: ``term ('*' term)*``; a term is ``NAME['(' numbers ')'] '**' INT`` or
    ``'(' schedule ')' ['**' INT]``. Names are looked up in the plugin registry.

    Example
    -------
    >>> len(parse_schedule("(HIO**80*ER**20)**6"))
    600
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"schedule must be a non-empty string, got {text!r}")
    toks = _tokens(text)
    pos = 0

    def peek(kind):
        return pos < len(toks) and toks[pos][0] == kind

    def take(kind):
        nonlocal pos
        if not peek(kind):
            got = toks[pos][1] if pos < len(toks) else "end of text"
            raise ValueError(f"schedule {text!r}: expected {kind}, got {got!r}")
        pos += 1
        return toks[pos - 1][1]

    def count():
        n = float(take("num"))
        if n != int(n) or n < 1:
            raise ValueError(f"schedule {text!r}: repeat counts must be positive integers, got {n}")
        return int(n)

    def term() -> Schedule:
        if peek("lpar"):
            take("lpar")
            inner = expr()
            take("rpar")
            return inner ** count() if peek("pow") and take("pow") else inner
        name = take("name")
        args = []
        if peek("lpar"):
            take("lpar")
            while not peek("rpar"):
                args.append(float(take("num")))
                if peek("comma"):
                    take("comma")
            take("rpar")
        alg = make_algorithm(name, *args)
        n = count() if peek("pow") and take("pow") else 1
        return alg**n

    def expr() -> Schedule:
        s = term()
        while peek("mul"):
            take("mul")
            s = s * term()
        return s

    sched = expr()
    if pos != len(toks):
        raise ValueError(f"schedule {text!r}: unexpected {toks[pos][1]!r}")
    return sched
