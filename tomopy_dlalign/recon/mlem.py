"""Reconstruction and reprojection with TomoPy's argument names: MLEM, FBP, reproject."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from ..common.parallel import workers
from ..common.progress import progress
from ..common.validation import as_array
from .center import resolve_center
from .projectors import Projector, check_tomo, projector_for

logger = logging.getLogger(__name__)


def mlem(
    tomo,
    theta,
    center: float | str | None = "auto",
    num_iter: int = 20,
    init_recon=None,
    device: str = "auto",
    backend: str = "auto",
    projector: Projector | None = None,
    callback: Callable[[int, float], None] | None = None,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Maximum-likelihood expectation maximisation (MLEM) reconstruction.

    Parameters
    ----------
    tomo : ndarray, shape (nproj, nslice, ncol)
        Line integrals (after ``normalize`` and ``minus_log``), as in TomoPy.
    theta : ndarray, shape (nproj,)
        Projection angles in radians.
    center : float, "auto" or None
        Rotation axis in pixels along ``ncol``: ``"auto"`` (default) finds it
        (:func:`~tomopy_dlalign.recon.find_center`), ``None`` means ``ncol / 2``
        (TomoPy's default). Ignored when ``projector`` is given.
    num_iter : int
        Number of MLEM iterations, at least 1 (TomoPy defaults to 1; 20 is a useful
        start here).
    init_recon : ndarray, shape (nslice, ncol, ncol), optional
        Starting volume; pass a previous result to continue where it stopped.
    device, backend : str
        Torch device and projector backend (see :func:`make_projector`).
    projector : Projector, optional
        A prebuilt operator for this geometry (skips building one).
    callback : callable, optional
        Called as ``callback(k, kl)`` after iteration ``k`` with the Kullback-Leibler
        data misfit of the iterate that entered it; MLEM never increases it.
    show_progress : bool, optional
        Progress bar; by default shown when standard error is a terminal.

    Returns
    -------
    ndarray, shape (nslice, ncol, ncol), float32, non-negative.

    Notes
    -----
    The update (Shepp & Vardi 1982; Dempster et al. 1977) is

    .. math:: x^{k+1} = \\frac{x^k}{A^T 1} A^T \\frac{y}{A x^k}

    Negative data (noise in ``-log`` of transmissions above the flat field) are set
    to zero, since MLEM models non-negative counts; where ``A x`` is zero the ratio is
    taken as zero (so is a ratio that overflows). Pixels that no ray reaches
    (``A^T 1 = 0``) stay zero. Without
    ``init_recon`` the start is a constant per slice that already matches the total
    measured line-integral mass, which saves the first few iterations.

    Example
    -------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False)
    >>> rec = mlem(np.ones((60, 2, 32), np.float32), theta, num_iter=2)
    >>> rec.shape
    (2, 32, 32)
    """
    if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
        raise ValueError(f"num_iter must be a positive integer (0 iterations would return "
                         f"the starting image), got {num_iter!r}")
    y_np, th = check_tomo(tomo, theta)
    if projector is None:
        center = resolve_center(center, y_np, th)
    nproj, nslice, ncol = y_np.shape
    A = projector_for(th, ncol, center, backend, device, projector)
    x0 = None
    if init_recon is not None:
        x0 = as_array(init_recon, "init_recon", ndim=3)
        if x0.shape != (nslice, ncol, ncol):
            raise ValueError(f"init_recon must have shape {(nslice, ncol, ncol)}, got {x0.shape}")
        x0 = torch.from_numpy(np.ascontiguousarray(x0))
    y = torch.from_numpy(np.ascontiguousarray(y_np))
    return mlem_tensor(y, A, num_iter, x0, callback, show_progress).cpu().numpy()


def mlem_tensor(y: torch.Tensor, A: Projector, num_iter: int, init: torch.Tensor | None = None,
                callback: Callable[[int, float], None] | None = None,
                show_progress: bool | None = False) -> torch.Tensor:
    """The MLEM iterations of :func:`mlem` on tensors that are already checked.

    ``y`` (nproj, nslice, ncol) and ``init`` (nslice, ncol, ncol) are moved to the
    projector's device; the result stays there. For callers inside the package that
    keep a stack on its device across steps (the alignment cycle). On the CPU the
    iterations run under :func:`.workers.cpu_threads`.
    """
    if A.device.type != "cpu":
        return _iterate(y, A, num_iter, init, callback, show_progress)
    with workers.cpu_threads():
        return _iterate(y, A, num_iter, init, callback, show_progress)


def _iterate(y, A, num_iter, init, callback, show_progress) -> torch.Tensor:
    dev = A.device
    nproj, _, ncol = y.shape
    y = y.to(dev, torch.float32).clamp(min=0)
    sens = A.adjoint(torch.ones((nproj, 1, ncol), device=dev))  # (1, ncol, ncol)
    inside = sens > 1e-6 * sens.max()
    inv_sens = torch.where(inside, 1.0 / sens.clamp(min=1e-12), torch.zeros_like(sens))
    if init is None:
        level = y.sum(dim=(0, 2)) / sens.sum()  # the measured mass of each slice
        x = inside.to(torch.float32) * level[:, None, None]
    else:
        x = init.to(dev, torch.float32).clamp(min=0)
    # the iterations run in the projector's working layout (slices last on the CPU); the
    # element-wise steps ride on the products, block by block, on the thread that made it
    y, x, inv_sens = A.to_work_sino(y), A.to_work_vol(x), A.to_work_vol(inv_sens)

    def to_ratio(rows: slice, ax: torch.Tensor) -> torch.Tensor:
        return torch.div(y[rows], ax, out=ax).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)

    def update(rows: slice, back: torch.Tensor) -> torch.Tensor:
        back *= x[rows]
        back *= inv_sens[rows]
        return back

    for k in progress(range(num_iter), "mlem", show_progress):
        if callback is None:
            ratio = A.forward_work(x, to_ratio)
        else:
            ax = A.forward_work(x)
            callback(k, _kl(y, ax))
            ratio = to_ratio(slice(None), ax)
        x = A.adjoint_work(ratio, update)
    return A.from_work_vol(x)


def _kl(y, ax) -> float:
    # KL(y || Ax) = sum y log(y / Ax) - y + Ax, with 0 log 0 = 0 (rays where Ax = 0
    # are left out, as they are of the update)
    pos = ax > 0
    ratio = torch.where(pos, y / ax.clamp(min=torch.finfo(torch.float32).tiny), 0.0)
    yl = torch.where((y > 0) & pos, y * torch.log(ratio.clamp(min=1e-30)), torch.zeros_like(y))
    return float((yl - y + ax).sum(dtype=torch.float64))
