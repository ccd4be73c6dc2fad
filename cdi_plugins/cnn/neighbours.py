"""The nearest-neighbour search (NNS) baseline of Wu et al. (2021): the training pattern
closest to a measured one stands in for the network's prediction."""

from __future__ import annotations

import time

import numpy as np
import torch

from tomopy_dlalign.common.validation import as_array


def nearest_neighbour(intensity, reference, batch_size: int = 256) -> tuple[np.ndarray, float]:
    """Nearest-neighbour search (NNS) of patterns in a reference set (Wu et al. 2021).

    The neighbour of a pattern is the reference whose modulus, scaled at best, is
    closest to the pattern's: the one with the smallest chi^2 of eq. (5) with a fitted
    scale, which is the one with the largest cosine similarity between ``sqrt(I)``
    vectors. All comparisons are one matrix product per batch.

    Parameters
    ----------
    intensity : array_like
        ``(B, H, W)`` or ``(H, W)`` patterns.
    reference : array_like
        ``(N, H, W)`` reference patterns (the training set).
    batch_size : int
        Patterns per matrix product.

    Returns
    -------
    index : numpy.ndarray
        int ``(B,)`` index of each pattern's neighbour in ``reference``.
    seconds : float
        Wall time per pattern of the search.

    Example
    -------
    >>> ref = np.random.default_rng(0).random((5, 8, 8))
    >>> idx, _ = nearest_neighbour(3 * ref[[4, 1]], ref)
    >>> idx.tolist()
    [4, 1]
    """
    q = as_array(intensity, "intensity", ndim=(2, 3), nonnegative=True)
    ref = reference if isinstance(reference, torch.Tensor) else torch.from_numpy(
        as_array(reference, "reference", ndim=3, nonnegative=True))
    if tuple(q.shape[-2:]) != tuple(ref.shape[-2:]):
        raise ValueError(f"intensity patterns are {q.shape[-2:]} but the references "
                         f"{tuple(ref.shape[-2:])}")
    q = torch.from_numpy(q.reshape(-1, q.shape[-2] * q.shape[-1]))
    r = _unit_rows(ref.reshape(len(ref), -1))
    t0 = time.perf_counter()
    out = []
    for lo in range(0, len(q), int(batch_size)):
        out.append((_unit_rows(q[lo:lo + int(batch_size)]) @ r.T).argmax(dim=1))
    seconds = (time.perf_counter() - t0) / len(q)
    return torch.cat(out).numpy(), seconds


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    mod = x.clamp_min(0).sqrt()
    return mod / mod.norm(dim=1, keepdim=True).clamp_min(1e-30)
