"""Weights files and model cards, shared by every network of both packages.

Weights are written as safetensors (no code is executed on load) with the model's name
and configuration in the file's metadata, atomically (temporary file, then rename). The
model card (how the weights were made: command, data, seed, metrics, time) is JSON beside
the weights, same name with ``.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .outputs import atomic_output


def atomic_path(path: str | os.PathLike, overwrite: bool | None = None):
    """Yield a unique temporary path in ``path``'s folder; rename it to ``path`` when the
    block ends without an error, so that an interrupted write never leaves a corrupt
    file (weights, checkpoints, caches). The rules of
    :func:`~tomopy_dlalign.common.outputs.atomic_output` apply."""
    return atomic_output(path, overwrite)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_weights(state: dict, path: str | os.PathLike, model: str, config: str,
                 card: dict | None = None) -> None:
    """Write ``state`` (name -> tensor) as safetensors with ``model`` and ``config``
    (a JSON string) in the metadata; write ``card`` as JSON beside it when given."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"config": config, "model": model})
    if card is not None:
        write_text_atomic(path.with_suffix(".json"), json.dumps(card, indent=2, default=str))


def read_weights(path: str | os.PathLike, model: str) -> tuple[dict, str]:
    """Read a safetensors file written by :func:`save_weights` for ``model``.

    Returns ``(state, config)``. A missing file, a file that is not safetensors, or one
    that holds another model's weights gives a clear error naming the file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable safetensors file ({exc})") from exc
    if meta.get("model") != model or "config" not in meta:
        raise ValueError(f"{str(path)!r} does not hold {model} weights "
                         f"(metadata model={meta.get('model')!r})")
    return state, meta["config"]


def parse_config(text: str, schema: dict, path: str | os.PathLike, model: str) -> dict:
    """The architecture stored with a weights file, checked against ``schema`` before
    any network is built from it.

    ``schema`` maps each allowed key to ``(kind, low, high)``: ``kind`` is ``int``,
    ``float`` or ``list`` (a list of 1 to 8 integers), and every number must lie in
    ``[low, high]``, so that crafted metadata cannot ask for a network of absurd size.
    Keys the file leaves out take the network's defaults.

    Raises
    ------
    ValueError
        Not JSON, not an object, an unknown key, a wrong type or a value out of bounds,
        naming the file and the key.
    """
    where = f"the {model} configuration in {str(path)!r}"
    try:
        cfg = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(schema))
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; expected among {sorted(schema)}")
    for key, value in cfg.items():
        kind, low, high = schema[key]
        items = value if kind is list else [value]
        if kind is list and not (isinstance(value, list) and 1 <= len(value) <= 8):
            raise ValueError(f"{where}: {key} must be a list of 1 to 8 integers, got {value!r}")
        want = float if kind is float else int
        for v in items:
            if isinstance(v, bool) or not isinstance(v, (int, float) if want is float else int):
                raise ValueError(f"{where}: {key} must hold {want.__name__} values, got {v!r}")
            if not low <= v <= high:
                raise ValueError(f"{where}: {key}={v!r} is outside [{low}, {high}]")
    return cfg


def load_state(net, state: dict, path: str | os.PathLike, model: str):
    """``net.load_state_dict(state, strict=True)`` with a clear error on a mismatch."""
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{str(path)!r} does not match the {model} architecture: {exc}") \
            from exc
    return net


def read_card(weights_path: str | os.PathLike) -> dict:
    """The model card beside a weights file (empty if there is none)."""
    card = Path(weights_path).with_suffix(".json")
    return json.loads(card.read_text()) if card.exists() else {}
