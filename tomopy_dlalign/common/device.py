"""Choice of the torch device behind the NumPy-in / NumPy-out public functions."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device meant by ``device``.

    ``"auto"`` (or ``None``) picks CUDA when PyTorch sees a GPU and the CPU otherwise.
    Any other value is passed to :class:`torch.device`; asking for CUDA on a machine
    without it raises a clear error instead of failing deep inside PyTorch.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but PyTorch sees no CUDA GPU here")
    return dev
