"""The complex CNN of Wu et al. (2021), Fig. 1: one encoder, two decoders.

A diffraction pattern ``(B, 1, H, W)`` (its modulus ``sqrt(I)`` scaled to a maximum of
1, see :func:`normalize_pattern`) goes through an encoder of convolution blocks and max
pooling; the encoded features are split equally in two along the channels, and each
half goes through its own decoder of convolution blocks and upsampling to an
``(H/2, W/2)`` map: one decoder gives the amplitude, the other the phase scaled to
(0, 1). Every block is a 3x3 convolution + LeakyReLU + batch norm, then a 3x1 and a 1x3
convolution + LeakyReLU + batch norm; the last layer of each decoder is a 3x3
convolution with a ReLU.

The network knows nothing about how its training data were made (that lives in
:mod:`cdi_plugins.simulate.superellipsoid`) nor about its loss (:mod:`cdi_plugins.cnn.loss`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from tomopy_dlalign.common.modelfiles import parse_config

MODEL_NAME = "cdi_plugins.ComplexCNN"
#: allowed keys and bounds of a stored configuration (see ``parse_config``)
SCHEMA = {"size": (int, 8, 4096), "encoder": (list, 1, 512), "decoder": (list, 1, 512),
          "negative_slope": (float, 0.0, 1.0)}


@dataclass
class CNNConfig:
    """Architecture of :class:`ComplexCNN`.

    Parameters
    ----------
    size : int
        Input pattern size ``H = W``; outputs are ``size // 2``.
    encoder : tuple of int
        Channels of the encoder blocks; a 2x2 max pooling follows each but the last.
    decoder : tuple of int
        Channels of each decoder's blocks; a 2x upsampling precedes each.
    negative_slope : float
        Slope of the LeakyReLU.
    """

    size: int = 64
    encoder: tuple[int, ...] = (8, 16, 32, 64)
    decoder: tuple[int, ...] = (32, 16)
    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        self.encoder = tuple(int(c) for c in self.encoder)
        self.decoder = tuple(int(c) for c in self.decoder)
        parse_config(self.to_json(), SCHEMA, "the arguments", MODEL_NAME)
        if self.encoder[-1] % 2:
            raise ValueError(f"the last encoder width must be even (it is split in two "
                             f"for the decoders), got {self.encoder[-1]}")
        down = 2 ** (len(self.encoder) - 1)
        up = 2 ** len(self.decoder)
        if down != 2 * up:
            raise ValueError(f"the encoder halves the size {len(self.encoder) - 1} times and "
                             f"the decoders double it {len(self.decoder)} times: the output "
                             f"would not be half the input")
        if self.size % down:
            raise ValueError(f"size must be a multiple of {down}, got {self.size}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike = "the given text") -> CNNConfig:
        """The configuration stored in a weights file, checked (keys, types, bounded
        sizes) before any network is built; a clear ``ValueError`` naming ``path``."""
        return cls(**parse_config(text, SCHEMA, path, MODEL_NAME))


class ConvBlock(nn.Sequential):
    """3x3 conv + LeakyReLU + BN, then 3x1 conv + 1x3 conv + LeakyReLU + BN (Fig. 1)."""

    def __init__(self, c_in: int, c_out: int, slope: float) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.LeakyReLU(slope),
            nn.BatchNorm2d(c_out),
            nn.Conv2d(c_out, c_out, (3, 1), padding=(1, 0)),
            nn.Conv2d(c_out, c_out, (1, 3), padding=(0, 1)),
            nn.LeakyReLU(slope),
            nn.BatchNorm2d(c_out),
        )


class Decoder(nn.Sequential):
    """Upsampling + blocks, then a 3x3 convolution to one channel and a ReLU."""

    def __init__(self, c_in: int, widths: tuple[int, ...], slope: float) -> None:
        layers: list[nn.Module] = []
        for c in widths:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), ConvBlock(c_in, c, slope)]
            c_in = c
        layers += [nn.Conv2d(c_in, 1, 3, padding=1), nn.ReLU()]
        super().__init__(*layers)


class ComplexCNN(nn.Module):
    """Encoder and two decoders: ``(B, 1, H, W)`` -> amplitude, phase ``(B, H/2, W/2)``.

    Parameters
    ----------
    config : CNNConfig, optional

    Example
    -------
    >>> import torch
    >>> net = ComplexCNN().eval()
    >>> amp, phase = net(torch.rand(2, 1, 64, 64))
    >>> tuple(amp.shape), tuple(phase.shape)
    ((2, 32, 32), (2, 32, 32))
    """

    def __init__(self, config: CNNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CNNConfig()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(cfg.encoder):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers.append(ConvBlock(c_in, c, cfg.negative_slope))
            c_in = c
        self.encoder = nn.Sequential(*layers)
        half = cfg.encoder[-1] // 2
        self.amplitude = Decoder(half, cfg.decoder, cfg.negative_slope)
        self.phase = Decoder(half, cfg.decoder, cfg.negative_slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        za, zp = z.chunk(2, dim=1)
        return self.amplitude(za)[:, 0], self.phase(zp)[:, 0]


#: patterns per forward pass at inference: at this size the activations of a batch stay
#: in the CPU's caches (timings in benchmarks/RESULTS_cnn.md)
INFERENCE_BATCH = 32


@torch.inference_mode()
def forward_batches(net: ComplexCNN, intensity: torch.Tensor,
                    batch_size: int = INFERENCE_BATCH,
                    device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Amplitude and scaled phase ``(B, m, m)`` of a stack of patterns ``(B, H, W)``.

    The network runs in eval mode, ``batch_size`` patterns at a time, on ``device``
    (default the CPU), with the patterns and the weights in channels-last layout
    (oneDNN's fast path for these narrow convolutions on a CPU; ``net`` is left in that
    layout). Results come back on the CPU.
    """
    dev = torch.device(device or "cpu")
    if dev.type == "cuda" and dev.index is None:  # parameters report cuda:N
        dev = torch.device("cuda", torch.cuda.current_device())
    # in place and once: weights in the patterns' layout, so that no call converts them
    # again (the conversion costs as much as a small forward pass)
    weights = [p for p in net.parameters() if p.dim() == 4]
    if any(p.device != dev or not p.is_contiguous(memory_format=torch.channels_last)
           for p in weights):
        net = net.to(dev, memory_format=torch.channels_last)
    net.eval()
    amps, phases = [], []
    for lo in range(0, len(intensity), batch_size):
        x = normalize_pattern(intensity[lo:lo + batch_size].to(dev))
        a, p = net(x.contiguous(memory_format=torch.channels_last))
        amps.append(a.cpu())
        phases.append(p.cpu())
    return torch.cat(amps), torch.cat(phases)


def normalize_pattern(intensity: torch.Tensor) -> torch.Tensor:
    """Network input: ``sqrt(I) / max sqrt(I)`` per pattern, ``(B, 1, H, W)``.

    Each pattern is scaled on its own, so a prediction does not depend on the other
    patterns of a batch nor on the pattern's total intensity.
    """
    mod = intensity.clamp_min(0).sqrt()
    peak = mod.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
    return (mod / peak)[:, None]


def n_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(p.shape) for p in net.parameters() if p.requires_grad))
