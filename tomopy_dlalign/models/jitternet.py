"""JitterNet: the residual network of Fu et al. (2021) that regresses jitter (dx, dy).

The input is a 2-channel image: a measured projection and the reprojection of the
current reconstruction at the same angle. The output is the shift ``(dx, dy)`` of the
measured image relative to the reprojection, in pixels of the input, in the project's
sense (``dx`` along columns, ``dy`` along rows, positive toward larger indices).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..common.device import resolve_device
from ..common.modelfiles import load_state, parse_config, read_weights, save_weights

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "jitternet.safetensors"


@dataclass(frozen=True)
class JitterNetConfig:
    """Architecture settings, stored beside the weights."""

    # The paper's widths are (64, 128, 256) on full-size images; the shipped model uses
    # (32, 64, 128) on 64 x 64 inputs so that it trains on a laptop CPU (see the model
    # card); both are this same architecture.
    size: int = 64                   # network input is size x size
    widths: tuple[int, ...] = (32, 64, 128)
    blocks_per_stage: int = 2

    #: allowed keys and bounds of a stored configuration (checked before any allocation)
    SCHEMA = {"size": (int, 16, 1024), "widths": (list, 1, 512),
              "blocks_per_stage": (int, 1, 4)}

    def __post_init__(self):
        parse_config(json.dumps(asdict(self) | {"widths": list(self.widths)}), self.SCHEMA,
                     "the arguments", "JitterNet")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike = "the given text") -> JitterNetConfig:
        """The configuration stored in a weights file, checked against :attr:`SCHEMA`
        (a clear ``ValueError`` naming ``path``, never a raw JSON or type error)."""
        d = parse_config(text, cls.SCHEMA, path, "JitterNet")
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.skip is None else self.skip(x)))


class JitterNet(nn.Module):
    """ResNet-18 cut to three stages: 7x7 stem, max-pool, 3 x 2 basic blocks, global
    average pooling, a linear layer to ``(dx, dy)``; 13 convolutions as in the paper.

    Call it on a ``(B, 2, size, size)`` tensor already normalised with
    :func:`normalize_pairs`; :func:`predict` does the whole job on NumPy arrays of any
    size.
    """

    def __init__(self, config: JitterNetConfig | None = None):
        super().__init__()
        self.config = config or JitterNetConfig()
        w = self.config.widths
        self.stem = nn.Sequential(nn.Conv2d(2, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], w[0]
        for i, cout in enumerate(w):
            for b in range(self.config.blocks_per_stage):
                stages.append(_BasicBlock(cin, cout, 2 if (b == 0 and i > 0) else 1))
                cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def normalize_pairs(pairs: torch.Tensor) -> torch.Tensor:
    """Standardise each image of each pair on its own (zero mean, unit deviation).

    The authors' code normalised by the min and max of the whole batch, so that one
    prediction depended on the other images in the batch; here nothing crosses pairs,
    and the measured and reprojected images (whose scales differ) are each brought to
    the same footing.
    """
    mean = pairs.mean(dim=(2, 3), keepdim=True)
    std = pairs.std(dim=(2, 3), keepdim=True)
    return (pairs - mean) / (std + 1e-6)


def resize_pairs(pairs: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[float, float]]:
    """Resize ``(B, 2, H, W)`` pairs to ``size x size``; returns the (x, y) scale factors
    from network pixels back to input pixels.

    Any projection size works this way: non-square images are resized per axis, large
    ones (2048) are reduced with area averaging (antialiased), and the predicted shifts
    are multiplied back by ``W / size`` and ``H / size``. The network's resolution then
    limits the precision to about one network pixel, which the optional sub-pixel
    polish of :func:`tomopy_dlalign.align` recovers at full resolution.
    """
    h, w = pairs.shape[-2:]
    if (h, w) == (size, size):
        return pairs, (1.0, 1.0)
    mode = "area" if (h >= size and w >= size) else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    out = F.interpolate(pairs, size=(size, size), mode=mode, **kwargs)
    return out, (w / size, h / size)


@torch.no_grad()
def predict(model: JitterNet, measured, reprojected, batch_size: int = 64,
            device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Estimate ``(dx, dy)`` for each (measured, reprojected) projection pair.

    Parameters
    ----------
    model : JitterNet
    measured, reprojected : ndarray or tensor, shape (nproj, nslice, ncol)
    batch_size : int
        Pairs per forward pass; the result does not depend on it.

    Returns
    -------
    dx, dy : ndarray (nproj,), in pixels of the input images.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    size = model.config.size
    measured = torch.as_tensor(measured)
    reprojected = torch.as_tensor(reprojected)
    n = measured.shape[0]
    out = np.zeros((n, 2), np.float64)
    for a in range(0, n, batch_size):
        pair = torch.stack([measured[a:a + batch_size], reprojected[a:a + batch_size]], 1)
        small, (sx, sy) = resize_pairs(pair.to(dev, torch.float32), size)
        pred = model(normalize_pairs(small)).double().cpu().numpy()
        out[a:a + batch_size] = pred * np.array([sx, sy])
    return out[:, 0], out[:, 1]


def save_model(model: JitterNet, path: str | os.PathLike, card: dict | None = None) -> None:
    """Write the weights (safetensors, atomically) and, if given, the model card as JSON
    beside them (same name, ``.json``)."""
    save_weights(model.state_dict(), path, "JitterNet", model.config.to_json(), card)


def load_model(path: str | os.PathLike | None = None, device: str = "cpu") -> JitterNet:
    """Load JitterNet weights with the safe safetensors loader (no code is executed).

    ``path=None`` loads the weights that ship with the package, offline. A file that is
    not safetensors, or that holds another model's tensors, gives a clear error.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    state, config = read_weights(path, "JitterNet")
    model = load_state(JitterNet(JitterNetConfig.from_json(config, path)), state, path, "JitterNet")
    return model.to(device).eval()
