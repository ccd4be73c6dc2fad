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
    ASTRA's 2D CPU ``linear`` projector turned into a sparse system matrix once per
    geometry (cached in memory and on disk, see :mod:`.matrix_cache`), applied to all
    slices at once as one sparse-dense product with
    PyTorch's threaded CSR kernels.
``torch``
    Pure PyTorch ray sampling with bilinear interpolation, on CPU or CUDA, for machines
    without ASTRA. Its adjoint is the exact transpose, obtained by automatic
    differentiation of the (linear) forward operator.
``astra-cuda``
    ASTRA's 3D parallel-beam CUDA projectors, used when ``astra.use_cuda()`` is true.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from ..common.device import resolve_device
from ..common.validation import as_array, as_center, as_theta
from . import matrix_cache

logger = logging.getLogger(__name__)

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


class _Adjoint:
    def __init__(self, op: Projector):
        self.op = op

    def __call__(self, sino):
        return self.op.adjoint(sino)


def _astra_vectors_2d(theta: np.ndarray, offset: float) -> np.ndarray:
    # ASTRA parallel_vec rows: ray direction, detector centre, detector pixel vector.
    # Moving the detector centre by -offset along u puts the axis at ``center``.
    s, c = np.sin(theta), np.cos(theta)
    d = -offset
    return np.stack([s, -c, d * c, d * s, c, s], axis=1)


_MATRIX_CACHE: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_MATRIX_CACHE_SIZE = 4
_MATRIX_LOCK = threading.Lock()


def _geometry_key(theta: np.ndarray, ncol: int, center: float) -> tuple:
    return (theta.astype(np.float64).tobytes(), ncol, float(center))


def system_matrix(theta, ncol: int, center: float | None = None):
    """The sparse system matrix of the ``cpu`` backend as a SciPy CSR matrix.

    Rows are ``(angle, detector column)`` pairs, columns are ``(row, column)`` pixels
    of one slice; entries are ASTRA ``linear`` projector weights in pixel units.
    """
    if astra is None:
        raise RuntimeError("the 'cpu' projector needs astra-toolbox (pip install astra-toolbox)")
    theta = as_theta(theta)
    center = as_center(center, ncol)
    vol_geom = astra.create_vol_geom(ncol, ncol)
    proj_geom = astra.create_proj_geom(
        "parallel_vec", ncol, _astra_vectors_2d(theta, center - ncol / 2.0))
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    try:
        mid = astra.projector.matrix(pid)
        try:
            mat = astra.matrix.get(mid)
        finally:
            astra.matrix.delete(mid)
    finally:
        astra.projector.delete(pid)
    return mat.astype(np.float32).tocsr()


def _matrices(theta: np.ndarray, ncol: int, center: float):
    """``(A, AT)`` of a geometry as SciPy CSR matrices: from the disk cache
    (:mod:`.matrix_cache`) when it holds them, else built with ASTRA and written there."""
    key = matrix_cache.geometry_key(theta, ncol, center, astra.__version__)
    mats = matrix_cache.load(key)
    if mats is None:
        mat = system_matrix(theta, ncol, center)
        mats = (mat, mat.T.tocsr())
        logger.debug("built system matrix %s with %d non-zeros", mat.shape, mat.nnz)
        matrix_cache.save(key, *mats)
    return mats


def _csr_to_torch(mat) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(mat.indptr, dtype=np.int32)),
            torch.from_numpy(np.asarray(mat.indices, dtype=np.int32)),
            torch.from_numpy(np.asarray(mat.data, dtype=np.float32)),
            size=mat.shape,
            check_invariants=False,
        )


class SparseMatrixProjector(Projector):
    """``cpu`` backend: one cached sparse matrix for all slices, threaded SpMM."""

    name = "cpu"

    def __init__(self, theta, ncol, center=None, device="cpu"):
        super().__init__(theta, ncol, center, device)
        key = _geometry_key(self.theta, self.ncol, self.center)
        with _MATRIX_LOCK:
            cached = _MATRIX_CACHE.get(key)
            if cached is None:
                cached = tuple(_csr_to_torch(m) for m in _matrices(self.theta, self.ncol,
                                                                   self.center))
                _MATRIX_CACHE[key] = cached
                while len(_MATRIX_CACHE) > _MATRIX_CACHE_SIZE:
                    _MATRIX_CACHE.popitem(last=False)
            else:
                _MATRIX_CACHE.move_to_end(key)
        self._A, self._AT = (m.to(self.device) for m in cached)

    @classmethod
    def is_available(cls) -> bool:
        return astra is not None

    def _forward(self, vol):
        n = vol.shape[0]
        x = vol.reshape(n, -1).T.contiguous()          # (npix, nslice): slices are columns
        y = torch.sparse.mm(self._A, x)                 # (nproj * ncol, nslice)
        return y.reshape(self.nproj, self.ncol, n).permute(0, 2, 1).contiguous()

    def _adjoint(self, sino):
        n = sino.shape[1]
        y = sino.permute(0, 2, 1).reshape(self.nproj * self.ncol, n).contiguous()
        x = torch.sparse.mm(self._AT, y)                # (npix, nslice)
        return x.T.reshape(n, self.ncol, self.ncol).contiguous()


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
    """``astra-cuda`` on a GPU with ASTRA CUDA, else ``cpu`` with ASTRA, else ``torch``.

    The ``cpu`` backend's matrix grows as ``nproj * ncol**2`` (about 2 GB at 181 x 512,
    30 GB at 181 x 2048); when it would take more than a third of the free memory, the
    matrix-free ``torch`` backend is chosen instead, and the choice is logged.
    """
    if device.type == "cuda":
        return "astra-cuda" if astra_cuda_usable() else "torch"
    if astra is None:
        return "torch"
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
        added by a plugin).
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
    name = (default_backend(dev, len(np.atleast_1d(theta)), ncol)
            if backend in (None, "auto") else backend)
    cls: Any = plugins.get("projector", name)
    if hasattr(cls, "is_available") and not cls.is_available():
        raise RuntimeError(f"projector backend {name!r} cannot run on this machine")
    return cls(theta, ncol, center, device=dev)


def check_tomo(tomo, theta, name="tomo"):
    arr = as_array(tomo, name, ndim=3)
    th = as_theta(theta, arr.shape[0])
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

