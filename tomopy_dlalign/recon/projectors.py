"""Parallel-beam projector operators over whole stacks of slices.

A projector is built once from a geometry ``(theta, ncol, center)`` shared by every slice
and offers ``forward`` (volume ``(nslice, ncol, ncol)`` -> projections
``(nproj, nslice, ncol)``) and ``adjoint`` (the exact transpose). Both accept NumPy arrays
or torch tensors and return the same kind.

Conventions (the same as TomoPy's, measured against ``tomopy.project``): ``theta`` in
radians; the reconstruction grid is centred on the rotation axis; the axis projects to
detector position ``center`` in pixels, where pixel ``k`` spans ``[k, k + 1)``, so the
default ``center = ncol / 2`` is the middle of the detector. Volume row ``r`` and column
``c`` sit at ``x = c + 0.5 - ncol / 2`` and ``y = ncol / 2 - 0.5 - r``; at ``theta = 0``
the rays run along ``y`` and detector columns follow ``x``.

Backends
--------
``cpu``
    A sparse system matrix with the weights of ASTRA's 2D ``linear`` (Joseph) projector,
    computed directly with NumPy once per geometry (:mod:`.system_matrix`, a few tenths
    of a second at 181 angles x 256 columns; the back-projection first, the projection
    only when asked for) and kept in memory for the last few geometries; applied to all
    slices at once as weighted row sums (``torch.nn.functional.embedding_bag``), by
    blocks shared between threads (``common.parallel.workers``). :func:`~.fbp.fbp` uses the same
    weights block by block without keeping them. It needs no ASTRA.
``torch``
    Pure PyTorch ray sampling with bilinear interpolation, on CPU or CUDA, without a
    stored matrix (for geometries whose matrix would not fit in memory). Its adjoint is
    the exact transpose, obtained by automatic differentiation of the (linear) forward
    operator.
``astra-cuda``
    ASTRA's 3D parallel-beam CUDA projectors, used when ``astra.use_cuda()`` is true.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..common.device import resolve_device
from ..common.parallel import workers
from ..common.validation import as_array, as_center, as_theta
from .system_matrix import PixelWeights, transpose

logger = logging.getLogger(__name__)

#: ``epilogue(rows, block) -> block``, see :meth:`Projector.forward_work`
Epilogue = Callable[[slice, torch.Tensor], torch.Tensor]

try:  # ASTRA is a dependency, but the torch backend keeps the package usable without it
    import astra
except ImportError:  # pragma: no cover - exercised only where astra is missing
    astra = None


def astra_cuda_usable() -> bool:
    """True when ASTRA is importable and sees a CUDA GPU.

    ASTRA 2.5 aborts the whole process (it does not raise) on any 3D or CUDA call
    without a GPU, so every such call must be guarded by this test.
    """
    if astra is None:
        return False
    try:
        return bool(astra.use_cuda())
    except Exception:  # pragma: no cover
        return False


class Projector:
    """Base class: geometry checks, array conversion and the public operator API.

    Subclasses implement ``_forward`` and ``_adjoint`` on torch tensors of the
    documented shapes, on ``self.device``.
    """

    name = "base"

    def __init__(self, theta, ncol: int, center: float | None = None, device="auto"):
        if not isinstance(ncol, (int, np.integer)) or ncol < 2:
            raise ValueError(f"ncol must be an integer >= 2, got {ncol!r}")
        self.theta = as_theta(theta)
        self.ncol = int(ncol)
        self.center = as_center(center, self.ncol)
        self.device = resolve_device(device)

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def nproj(self) -> int:
        return int(self.theta.size)

    @property
    def offset(self) -> float:
        """Distance of the rotation axis from the detector's middle, in pixels."""
        return self.center - self.ncol / 2.0

    def vol_shape(self, nslice: int) -> tuple[int, int, int]:
        return (nslice, self.ncol, self.ncol)

    def sino_shape(self, nslice: int) -> tuple[int, int, int]:
        return (self.nproj, nslice, self.ncol)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(nproj={self.nproj}, ncol={self.ncol}, "
                f"center={self.center}, device={self.device})")

    # -- public operator API -------------------------------------------------
    def forward(self, vol):
        """Project a volume ``(nslice, ncol, ncol)`` to ``(nproj, nslice, ncol)``."""
        t, back = self._to_tensor(vol, "vol")
        if t.ndim != 3 or t.shape[1:] != (self.ncol, self.ncol):
            raise ValueError(f"vol must have shape (nslice, {self.ncol}, {self.ncol}), "
                             f"got {tuple(t.shape)}")
        return back(self._forward(t))

    def adjoint(self, sino):
        """Back-project ``(nproj, nslice, ncol)`` to ``(nslice, ncol, ncol)`` (the transpose)."""
        t, back = self._to_tensor(sino, "sino")
        if t.ndim != 3 or t.shape[0] != self.nproj or t.shape[2] != self.ncol:
            raise ValueError(f"sino must have shape ({self.nproj}, nslice, {self.ncol}), "
                             f"got {tuple(t.shape)}")
        return back(self._adjoint(t))

    __call__ = forward

    @property
    def T(self) -> _Adjoint:  # noqa: N802 - operator notation A.T(y)
        return _Adjoint(self)

    def _to_tensor(self, x, name):
        if isinstance(x, torch.Tensor):
            return x.to(self.device, torch.float32), lambda y: y
        arr = np.asarray(x, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device), \
            lambda y: y.detach().cpu().numpy()

    def _forward(self, vol: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _adjoint(self, sino: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, forward: bool = True, adjoint: bool = True) -> None:
        """Compute now what the operator computes on first use (the ``cpu`` backend's
        matrices), for example before handing it to several threads; a no-op here."""

    # -- working layout --------------------------------------------------------
    # An iterative method (mlem) converts its tensors once into the layout in which the
    # operator computes and stays there; for the sparse-matrix backend this saves two
    # transposes per product. By default the working layout is the documented one.
    def to_work_vol(self, vol: torch.Tensor) -> torch.Tensor:
        """A volume ``(nslice, ncol, ncol)`` (or a broadcastable ``(1, ncol, ncol)``) in
        the working layout."""
        return vol

    def to_work_sino(self, sino: torch.Tensor) -> torch.Tensor:
        """Projections ``(nproj, nslice, ncol)`` in the working layout."""
        return sino

    def from_work_vol(self, x: torch.Tensor) -> torch.Tensor:
        """A working-layout volume back to ``(nslice, ncol, ncol)``."""
        return x

    def forward_work(self, x: torch.Tensor, epilogue: Epilogue | None = None) -> torch.Tensor:
        """:meth:`forward` from and to the working layout (tensors on ``self.device``).

        ``epilogue(rows, block)`` is applied to the result, or to each block of it
        (``rows``, a slice of its first axis) where the product is computed in blocks,
        and returns what to keep: element-wise work done while the block is fresh."""
        out = self._forward(x)
        return out if epilogue is None else epilogue(slice(None), out)

    def adjoint_work(self, y: torch.Tensor, epilogue: Epilogue | None = None) -> torch.Tensor:
        """:meth:`adjoint` from and to the working layout, as :meth:`forward_work`."""
        out = self._adjoint(y)
        return out if epilogue is None else epilogue(slice(None), out)


class _Adjoint:
    def __init__(self, op: Projector):
        self.op = op

    def __call__(self, sino):
        return self.op.adjoint(sino)


#: multiply-adds of a sparse product's smallest block (a few milliseconds on one thread)
PIECE_WORK = 1 << 23


class _SparseOperator:
    """A CSR matrix applied as ``torch.nn.functional.embedding_bag`` (weighted sums of
    the rows of the dense operand: about twice as fast as ``torch.sparse.mm`` on the CPU,
    and it runs on CUDA too), by blocks of rows on the ``common.parallel.workers`` threads."""

    def __init__(self, mat, device: torch.device):
        dtype = torch.int32 if max(mat.nnz, mat.shape[1]) < 2**31 - 1 else torch.int64
        self.shape = mat.shape
        self.device = device
        self.offsets = torch.from_numpy(np.asarray(mat.indptr)).to(device, dtype)
        self.indices = torch.from_numpy(np.asarray(mat.indices)).to(device, dtype)
        self.weights = torch.from_numpy(np.asarray(mat.data, dtype=np.float32)).to(device)
        self._pieces: dict[int, list[tuple]] = {}

    def _split(self, count: int) -> list[tuple]:
        """``count`` blocks of rows with about equal numbers of entries:
        ``(rows, indices, offsets, weights)`` each."""
        if count not in self._pieces:
            crow = self.offsets.cpu().numpy()
            cuts = np.searchsorted(crow, np.linspace(0, crow[-1], count + 1))
            cuts[0], cuts[-1] = 0, self.shape[0]
            pieces = []
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                if b > a:
                    lo, hi = int(crow[a]), int(crow[b])
                    pieces.append((slice(int(a), int(b)), self.indices[lo:hi],
                                   self.offsets[a:b + 1] - self.offsets[a],
                                   self.weights[lo:hi]))
            self._pieces[count] = pieces
        return self._pieces[count]

    def matmul_rows(self, dense: torch.Tensor, rows: slice) -> torch.Tensor:
        """``(self @ dense)[rows]``, computed on this thread alone."""
        lo, hi = int(self.offsets[rows.start]), int(self.offsets[rows.stop])
        return torch.nn.functional.embedding_bag(
            self.indices[lo:hi], dense, self.offsets[rows.start:rows.stop + 1] - lo,
            mode="sum", per_sample_weights=self.weights[lo:hi], include_last_offset=True)

    def matmul(self, dense: torch.Tensor, epilogue: Epilogue | None = None) -> torch.Tensor:
        """``self @ dense`` for a dense ``(shape[1], k)``, ``(shape[0], k)`` out.

        ``epilogue(rows, block)``, when given, is applied to each block of rows of the
        result on the thread that computed it, and returns the block to keep."""
        threads = workers.count() if self.device.type == "cpu" else 1
        # blocks of a few milliseconds at least (a hand-over between threads can cost
        # about a millisecond on a busy machine), up to four per thread
        work = self.weights.numel() * dense.shape[1]
        pieces = self._split(1 if threads == 1 else min(4 * threads, max(1, work // PIECE_WORK)))

        def run(piece):
            rows, indices, offsets, weights = piece
            block = torch.nn.functional.embedding_bag(
                indices, dense, offsets, mode="sum", per_sample_weights=weights,
                include_last_offset=True)
            return block if epilogue is None else epilogue(rows, block)

        blocks = workers.map_pieces(run, pieces)
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks)


class _Matrices:
    """The system matrix of one geometry and its transpose, each built on first use and
    kept per device, and the weights of :math:`A^T` by blocks (:func:`fbp` computes
    those as it goes and keeps nothing)."""

    def __init__(self, theta: np.ndarray, ncol: int, center: float):
        self._geometry = (theta, ncol, center)
        self._weights: PixelWeights | None = None
        self._csr: dict[str, Any] = {}
        self._ops: dict[tuple[str, torch.device], _SparseOperator] = {}
        self._lock = threading.Lock()

    @property
    def built(self) -> tuple[str, ...]:
        """The matrices built so far: ``"a"`` (projection), ``"at"`` (back-projection)."""
        return tuple(sorted(self._csr))

    def pixel_weights(self) -> PixelWeights:
        with self._lock:
            if self._weights is None:
                self._weights = PixelWeights(*self._geometry)
            return self._weights

    def stored(self, kind: str, device: torch.device) -> _SparseOperator | None:
        """The operator of ``kind`` if its matrix is built, else ``None`` (no build)."""
        with self._lock:
            if kind not in self._csr:
                return None
        return self.operator(kind, device)

    def operator(self, kind: str, device: torch.device) -> _SparseOperator:
        """``kind`` is ``"a"`` (projection) or ``"at"`` (back-projection)."""
        weights = self.pixel_weights()
        with self._lock:
            op = self._ops.get((kind, device))
            if op is None:
                op = _SparseOperator(self._matrix(kind, weights), device)
                self._ops[(kind, device)] = op
            return op

    def _matrix(self, kind: str, weights: PixelWeights):
        if "at" not in self._csr:
            self._csr["at"] = weights.matrix()
            logger.debug("built the back-projection matrix %s with %d non-zeros",
                         self._csr["at"].shape, self._csr["at"].nnz)
        if kind == "a" and "a" not in self._csr:
            self._csr["a"] = transpose(self._csr["at"])
        return self._csr[kind]


_MATRIX_CACHE: OrderedDict[tuple, _Matrices] = OrderedDict()
_MATRIX_CACHE_SIZE = 4
_MATRIX_LOCK = threading.Lock()


def _geometry_key(theta: np.ndarray, ncol: int, center: float) -> tuple:
    return (np.asarray(theta, dtype=np.float64).tobytes(), int(ncol), float(center))


def cached_matrices(theta: np.ndarray, ncol: int, center: float) -> _Matrices:
    """The in-memory entry of a geometry (``theta``, ``ncol``, ``center``), created on
    first use; the ``_MATRIX_CACHE_SIZE`` most recently used geometries are kept."""
    key = _geometry_key(theta, ncol, center)
    with _MATRIX_LOCK:
        entry = _MATRIX_CACHE.get(key)
        if entry is None:
            entry = _MATRIX_CACHE[key] = _Matrices(np.array(theta, dtype=np.float64),
                                                   int(ncol), float(center))
            while len(_MATRIX_CACHE) > _MATRIX_CACHE_SIZE:
                _MATRIX_CACHE.popitem(last=False)
        else:
            _MATRIX_CACHE.move_to_end(key)
    return entry


class SparseMatrixProjector(Projector):
    """``cpu`` backend: one cached sparse matrix for all slices, applied with
    ``embedding_bag`` (weighted row sums) by blocks on the ``common.parallel.workers`` threads."""

    name = "cpu"

    def __init__(self, theta, ncol, center=None, device="cpu"):
        super().__init__(theta, ncol, center, device)
        self._matrices = cached_matrices(self.theta, self.ncol, self.center)

    def prepare(self, forward=True, adjoint=True):
        for kind, wanted in (("a", forward), ("at", adjoint)):
            if wanted:
                self._matrices.operator(kind, self.device)

    # the working layout puts slices last: a volume is (ncol * ncol, nslice), projections
    # are (nproj * ncol, nslice), the dense operands of the matrix products
    def to_work_vol(self, vol):
        return vol.reshape(vol.shape[0], -1).T.contiguous()

    def to_work_sino(self, sino):
        return sino.permute(0, 2, 1).reshape(self.nproj * self.ncol, -1).contiguous()

    def from_work_vol(self, x):
        return x.T.reshape(-1, self.ncol, self.ncol).contiguous()

    def forward_work(self, x, epilogue=None):
        return self._matrices.operator("a", self.device).matmul(x, epilogue)

    def adjoint_rows(self, y: torch.Tensor, rows: slice) -> torch.Tensor:
        """The back-projection of working-layout projections ``y`` onto the pixel rows
        ``rows`` of the image only: ``(pixels, nslice)``, on this thread. With the
        matrix in memory, its rows; else the weights of those pixels, computed now
        (:class:`~.system_matrix.PixelWeights`) and dropped after use."""
        op = self._matrices.stored("at", self.device)
        if op is not None:
            return op.matmul_rows(y, slice(rows.start * self.ncol, rows.stop * self.ncol))
        indices, weights = self._matrices.pixel_weights().block(rows)
        return torch.nn.functional.embedding_bag(
            torch.from_numpy(indices).to(self.device), y, mode="sum",
            per_sample_weights=torch.from_numpy(weights).to(self.device))

    def row_blocks(self) -> list[slice]:
        """The image's pixel rows in blocks sized for :meth:`adjoint_rows`."""
        return self._matrices.pixel_weights().blocks()

    def adjoint_work(self, y, epilogue=None):
        return self._matrices.operator("at", self.device).matmul(y, epilogue)

    def _forward(self, vol):
        with workers.cpu_threads():
            y = self.forward_work(self.to_work_vol(vol))
            return y.reshape(self.nproj, self.ncol, -1).permute(0, 2, 1).contiguous()

    def _adjoint(self, sino):
        with workers.cpu_threads():
            return self.from_work_vol(self.adjoint_work(self.to_work_sino(sino)))


class TorchProjector(Projector):
    """``torch`` backend: bilinear ray sampling (step ``step`` px), exact autograd adjoint."""

    name = "torch"

    def __init__(self, theta, ncol, center=None, device="auto", step: float = 0.5,
                 max_chunk_bytes: int = 256 << 20):
        super().__init__(theta, ncol, center, device)
        self.step = float(step)
        half = math.ceil(self.ncol * math.sqrt(0.5) / self.step + 1)
        t = (torch.arange(-half, half + 1, dtype=torch.float64) * self.step)
        u = torch.arange(self.ncol, dtype=torch.float64) + 0.5 - self.center
        th = torch.from_numpy(self.theta)
        s, c = torch.sin(th)[:, None, None], torch.cos(th)[:, None, None]
        # point = u * (cos, sin) + t * (sin, -cos), world coordinates (x, y)
        x = u[None, None, :] * c + t[None, :, None] * s
        y = u[None, None, :] * s - t[None, :, None] * c
        # grid_sample's normalised coordinates with align_corners=False
        grid = torch.stack([2 * x / self.ncol, -2 * y / self.ncol], dim=-1)
        self._grid = grid.to(self.device, torch.float32)  # (nproj, nsamp, ncol, 2)
        self._nsamp = t.numel()
        self._max_chunk_bytes = max_chunk_bytes

    def _angle_chunks(self, nslice: int):
        per_angle = self._nsamp * self.ncol * max(nslice, 1) * 4 * 3
        size = max(1, min(self.nproj, self._max_chunk_bytes // per_angle))
        return [(i, min(i + size, self.nproj)) for i in range(0, self.nproj, size)]

    def _project_chunk(self, vol, a, b):
        grid = self._grid[a:b].reshape(1, -1, self.ncol, 2)
        out = torch.nn.functional.grid_sample(
            vol[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # (1, nslice, nang*nsamp, ncol) -> (nang, nslice, ncol)
        out = out[0].reshape(vol.shape[0], b - a, self._nsamp, self.ncol).sum(2)
        return out.permute(1, 0, 2) * self.step

    def _forward(self, vol):
        with torch.no_grad():
            parts = [self._project_chunk(vol, a, b) for a, b in self._angle_chunks(vol.shape[0])]
        return torch.cat(parts, 0).contiguous()

    def _adjoint(self, sino):
        n = sino.shape[1]
        out = torch.zeros((n, self.ncol, self.ncol), device=self.device, dtype=torch.float32)
        for a, b in self._angle_chunks(n):
            with torch.enable_grad():
                v = torch.zeros_like(out, requires_grad=True)
                proj = self._project_chunk(v, a, b)
                (g,) = torch.autograd.grad(proj, v, grad_outputs=sino[a:b])
            out += g
        return out


class AstraCudaProjector(Projector):
    """``astra-cuda`` backend: ASTRA's 3D parallel-beam projectors on a CUDA GPU.

    The volume and projections cross to ASTRA as NumPy arrays; each call is guarded so
    that no CUDA function of ASTRA is reached on a machine without a GPU (it would abort
    the process).
    """

    name = "astra-cuda"

    def __init__(self, theta, ncol, center=None, device="auto"):
        if not astra_cuda_usable():
            raise RuntimeError("the 'astra-cuda' projector needs ASTRA with a CUDA GPU; "
                               "astra.use_cuda() is False here")
        super().__init__(theta, ncol, center, device)
        s, c = np.sin(self.theta), np.cos(self.theta)
        d = -self.offset
        z = np.zeros_like(s)
        self._vectors = np.stack([s, -c, z, d * c, d * s, z, c, s, z, z, z, z + 1], axis=1)

    @classmethod
    def is_available(cls) -> bool:
        return astra_cuda_usable()

    def _geoms(self, nslice):
        vol_geom = astra.create_vol_geom(self.ncol, self.ncol, nslice)
        proj_geom = astra.create_proj_geom("parallel3d_vec", nslice, self.ncol, self._vectors)
        return vol_geom, proj_geom

    def _forward(self, vol):
        n = vol.shape[0]
        vol_geom, proj_geom = self._geoms(n)
        arr = np.ascontiguousarray(vol.detach().cpu().numpy())
        sid, data = astra.create_sino3d_gpu(arr, proj_geom, vol_geom)
        astra.data3d.delete(sid)
        # ASTRA 3D projection data are (det_row, angle, det_col)
        return torch.from_numpy(np.ascontiguousarray(data.transpose(1, 0, 2))).to(self.device)

    def _adjoint(self, sino):
        n = sino.shape[1]
        vol_geom, proj_geom = self._geoms(n)
        arr = np.ascontiguousarray(sino.detach().cpu().numpy().transpose(1, 0, 2))
        bid, data = astra.create_backprojection3d_gpu(arr, proj_geom, vol_geom)
        astra.data3d.delete(bid)
        return torch.from_numpy(np.ascontiguousarray(data)).to(self.device)


#: the backends of this package, by name (registered as plugins too, in ``hooks``)
BUILT_IN = {cls.name: cls for cls in (SparseMatrixProjector, TorchProjector, AstraCudaProjector)}


def system_matrix_bytes(nproj: int, ncol: int) -> int:
    """Estimated memory of the ``cpu`` backend's two matrices (A and its transpose).

    The ``linear`` projector has about 1.75 non-zeros per ray and pixel row; each costs
    8 bytes (float32 value, int32 index) per matrix.
    """
    return int(2 * 8 * 1.75 * nproj * ncol * ncol)


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def default_backend(device: torch.device, nproj: int = 0, ncol: int = 0) -> str:
    """``astra-cuda`` on a GPU with ASTRA CUDA (else ``torch``), ``cpu`` on the CPU.

    The ``cpu`` backend's matrix grows as ``nproj * ncol**2`` (about 2 GB at 181 x 512,
    30 GB at 181 x 2048); when it would take more than a third of the free memory, the
    matrix-free ``torch`` backend is chosen instead, and the choice is logged.
    """
    if device.type == "cuda":
        return "astra-cuda" if astra_cuda_usable() else "torch"
    need = system_matrix_bytes(nproj, ncol)
    if need > _available_memory() / 3:
        logger.info("the cpu projector would need %.1f GB for %d angles x %d columns: "
                    "using the matrix-free torch projector", need / 1e9, nproj, ncol)
        return "torch"
    return "cpu"


def make_projector(theta, ncol: int, center: float | None = None, backend: str = "auto",
                   device="auto") -> Projector:
    """Build the projector operator for a parallel-beam geometry.

    Parameters
    ----------
    theta : array_like
        Projection angles in radians, shape ``(nproj,)``.
    ncol : int
        Detector columns (and the reconstruction's width).
    center : float, optional
        Rotation axis position in pixels (default ``ncol / 2``); may be fractional.
    backend : str
        ``"auto"``, or a registered name (``"cpu"``, ``"torch"``, ``"astra-cuda"``, or one
        added by a plugin). ``"auto"`` takes one of the three built-in backends
        (:func:`default_backend`) without loading the plugins, so that a first
        reconstruction does not pay for importing every installed plugin.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Example
    -------
    >>> import numpy as np
    >>> A = make_projector(np.linspace(0, np.pi, 30, endpoint=False), 32)
    >>> A.forward(np.ones((2, 32, 32), np.float32)).shape
    (30, 2, 32)
    """
    from .. import plugins

    dev = resolve_device(device)
    if backend in (None, "auto"):
        name = default_backend(dev, len(np.atleast_1d(theta)), ncol)
        cls: Any = BUILT_IN[name]
    else:
        name, cls = backend, plugins.get("projector", backend)
    if hasattr(cls, "is_available") and not cls.is_available():
        raise RuntimeError(f"projector backend {name!r} cannot run on this machine")
    return cls(theta, ncol, center, device=dev)


def check_tomo(tomo, theta, name="tomo"):
    """The checked line integrals and angles of a reconstruction (at least two
    directions: one projection, or one angle repeated, reconstructs nothing)."""
    arr = as_array(tomo, name, ndim=3)
    th = as_theta(theta, arr.shape[0], distinct=2)
    return arr, th


def projector_for(theta, ncol, center, backend, device, projector) -> Projector:
    if projector is not None:
        if projector.ncol != ncol or projector.nproj != len(theta):
            raise ValueError(
                f"projector was built for {projector.nproj} angles x {projector.ncol} columns, "
                f"the data have {len(theta)} x {ncol}")
        return projector
    return make_projector(theta, ncol, center, backend=backend, device=device)


def reproject(rec, theta, center: float | None = None, device: str = "auto",
              backend: str = "auto", projector: Projector | None = None) -> np.ndarray:
    """Forward-project a reconstruction to projections ``(nproj, nslice, ncol)``.

    The counterpart of ``tomopy.project`` for a volume from :func:`mlem` or :func:`fbp`
    (``rec`` of shape ``(nslice, ncol, ncol)``), in the same geometry.

    Example
    -------
    >>> import numpy as np
    >>> reproject(np.zeros((1, 16, 16), np.float32), np.linspace(0, np.pi, 8)).shape
    (8, 1, 16)
    """
    vol = as_array(rec, "rec", ndim=3)
    if vol.shape[1] != vol.shape[2]:
        raise ValueError(f"rec must have shape (nslice, ncol, ncol), got {vol.shape}")
    th = as_theta(theta)
    A = projector_for(th, vol.shape[2], center, backend, device, projector)
    return A.forward(vol)

