"""Fused CPU kernels for the element-wise steps of the phasing loop (Numba).

Between its two FFTs an iteration of HIO, RAAR or ER runs two element-wise steps: the
modulus projection (``F * sqrt(I) / |F|`` on the measured pixels) and the update (the
constrained modulus projection inside the support, ``a rho + b y`` outside, and the
estimate ``P_S P_M rho``). As PyTorch operations they are a dozen passes over the batch
of runs, each reading and writing the whole batch; at 256^2 those passes cost more than
the FFTs (benchmarks/RESULTS_cdi.md section 5). Here each is one pass, compiled by Numba,
on the interleaved float32 view of the complex64 tensors, without branches in the inner
loop so that it vectorises. The projections are compiled without ``fastmath`` (which
lets LLVM approximate the division by a square root): with it, more runs of the
no-support 256^2 benchmark of benchmarks/RESULTS_cdi.md stagnated (8 of 16 at each of
three seeds, against 5-7 without it and 5-8 on the PyTorch path); only chi^2's sum may
be reordered. The pixels are cut into pieces that the calling thread and the package's
helper threads take one at a time
(:func:`tomopy_dlalign.common.parallel.workers.map_pieces`; ``torch.get_num_threads()``
threads in all), so no OpenMP team is involved and the kernels are safe in threads and forked
processes alike.

The kernels serve CPU tensors of complex64 in C order (:func:`fusable`); anything else
(CUDA tensors, complex128) takes the PyTorch path of
:class:`~cdi_plugins.phasing.constraints.Constraints`, which computes the same values:
the two agree to float32 rounding (a test checks both on every constraint).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from tomopy_dlalign.common.parallel import workers

#: the smallest number of pixels (over all runs) worth a piece of its own
PIECE_PIXELS = 1 << 16
#: every run's pixels are cut into this many rows (pattern sizes are even, so a 2D
#: pattern's pixel count divides by 4): one run's pixels can be shared between threads,
#: and each row is one loop of fixed length, which vectorises
ROWS_PER_RUN = 4
#: real-space constraints in the update kernel's coding
_CODES = {"none": (False, False), "real": (False, True), "positive": (True, True)}


def fusable(*tensors: torch.Tensor) -> bool:
    """True when every tensor is a complex64 CPU tensor in C order (the kernels' input)."""
    return all(t.device.type == "cpu" and t.dtype == torch.complex64 and t.is_contiguous()
               for t in tensors)


def modulus_amplitude(amplitude: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """The modulus kernel's amplitude: ``sqrt(I)`` on measured pixels, -1 on the others
    (left free), float32 in the kernels' rows ``(ROWS_PER_RUN, pixels / ROWS_PER_RUN)``."""
    return np.where(measured, amplitude, -1).astype(np.float32).reshape(ROWS_PER_RUN, -1)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _modulus(f, amp, r0, r1):  # pragma: no cover - compiled
    # f: float32 rows (n_runs * ROWS_PER_RUN, 2 q), complex interleaved; rows r0..r1-1
    rows, q = amp.shape
    tiny = np.float32(1e-30)
    one = np.float32(1)
    for r in range(r0, r1):
        fr = f[r]
        ar = amp[r % rows]
        for j in range(q):
            re = fr[2 * j]
            im = fr[2 * j + 1]
            a = ar[j]
            s = a / max(np.sqrt(re * re + im * im), tiny)
            s = s if a >= 0 else one
            fr[2 * j] = re * s
            fr[2 * j + 1] = im * s


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _update(rho, y, sup, new, est, a, b, positive, real, r0, r1):  # pragma: no cover
    # k = 1 where y obeys the constraints (inside the support; real part >= 0 when
    # positive): est = the constrained y there, 0 elsewhere; new = est + (1 - k)(a rho + b y)
    q = sup.shape[1]
    one = np.float32(1)
    floor = np.float32(0) if positive else np.float32(-np.inf)
    keep_im = np.float32(0) if real else one
    for r in range(r0, r1):
        yr_, rr_, nr_, er_, sr_ = y[r], rho[r], new[r], est[r], sup[r]
        for j in range(q):
            yr = yr_[2 * j]
            yi = yr_[2 * j + 1]
            k = np.float32(sr_[j]) * np.float32(yr >= floor)
            er = yr * k
            ei = yi * keep_im * k
            er_[2 * j] = er
            er_[2 * j + 1] = ei
            nr_[2 * j] = er + (one - k) * (a * rr_[2 * j] + b * yr)
            nr_[2 * j + 1] = ei + (one - k) * (a * rr_[2 * j + 1] + b * yi)


@numba.njit(nogil=True, cache=True, error_model="numpy",
           fastmath={"reassoc", "contract"})
def _misfit(f, amp, out, r0, r1):  # pragma: no cover - compiled
    # out[r] = sum over the row's measured pixels of (|f| - amp)^2, in float64
    rows, q = amp.shape
    for r in range(r0, r1):
        fr = f[r]
        ar = amp[r % rows]
        total = 0.0
        for j in range(q):
            re = fr[2 * j]
            im = fr[2 * j + 1]
            a = ar[j]
            d = np.sqrt(re * re + im * im) - a
            total += d * d if a >= 0 else 0.0
        out[r] = total


def _rows(t: torch.Tensor) -> np.ndarray:
    """A batch ``(n_runs, *shape)`` as the kernels' rows: complex64 as interleaved float32
    ``(n_runs * ROWS_PER_RUN, 2 * pixels / ROWS_PER_RUN)``, bool as
    ``(n_runs * ROWS_PER_RUN, pixels / ROWS_PER_RUN)``."""
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.reshape(t.shape[0] * ROWS_PER_RUN, -1).numpy()


def _pieces(n_rows: int, pixels: int) -> list[tuple[int, int]]:
    """Row ranges for :func:`~tomopy_dlalign.common.parallel.workers.map_pieces`."""
    n = max(1, min(workers.count(), n_rows, pixels // PIECE_PIXELS))
    edges = np.linspace(0, n_rows, n + 1).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _run(kernel, pixels: int, *args) -> None:
    """``kernel(*args, r0, r1)`` over the rows of ``args[0]`` (a batch of ``pixels``
    pixels in all), in pieces shared between the calling thread and the helpers."""
    workers.map_pieces(lambda piece: kernel(*args, *piece), _pieces(len(args[0]), pixels))


def modulus_(f: torch.Tensor, amp: np.ndarray) -> torch.Tensor:
    """Replace the modulus of ``f`` ``(n_runs, *shape)`` by ``amp`` where ``amp >= 0``
    (:func:`modulus_amplitude`), in place; returns ``f``."""
    _run(_modulus, f.numel(), _rows(f), amp)
    return f


def misfit(f: torch.Tensor, amp: np.ndarray) -> torch.Tensor:
    """``sum (|f| - amp)^2`` over the pixels where ``amp >= 0``, per run ``(n_runs,)``
    float32: the numerator of chi^2 (:meth:`Constraints.chi2
    <cdi_plugins.phasing.constraints.Constraints.chi2>`)."""
    rows = _rows(f)
    out = np.empty(len(rows))
    _run(_misfit, f.numel(), rows, amp, out)
    return torch.from_numpy(out.reshape(len(f), ROWS_PER_RUN).sum(1).astype(np.float32))


def update(rho: torch.Tensor, y: torch.Tensor, support: torch.Tensor, a: float, b: float,
           constraint: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The next iterate and the estimate of a relaxed projection (module docstring):
    where ``y`` obeys the support (and ``constraint``), the constrained ``y``; elsewhere
    ``a rho + b y`` for the iterate and 0 for the estimate."""
    new, est = torch.empty_like(y), torch.empty_like(y)
    _update_into(rho, y, support, new, est, a, b, constraint)
    return new, est


def estimate(y: torch.Tensor, support: torch.Tensor, constraint: str) -> torch.Tensor:
    """``P_S(y)``: the constrained ``y`` where it obeys the support (and
    ``constraint``), 0 elsewhere; :func:`update` with ``a = b = 0``, the iterate written
    where the estimate is (they are equal), so one tensor and one pass."""
    est = torch.empty_like(y)
    _update_into(y, y, support, est, est, 0.0, 0.0, constraint)
    return est


def _update_into(rho, y, support, new, est, a: float, b: float, constraint: str) -> None:
    positive, real = _CODES[constraint]
    _run(_update, y.numel(), _rows(rho), _rows(y), _rows(support.contiguous()), _rows(new),
         _rows(est), np.float32(a), np.float32(b), positive, real)
