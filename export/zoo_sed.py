"""A small sound event detector: dilated 1-D convolutions over log-mel frames (a temporal
convolutional network, non-causal), one logit per class per 20 ms frame.

TinySED maps (N, mels, T) log-mel dB frames at 10 ms to (N, ceil(T / 2), classes) logits:
an input convolution, a stride-2 convolution (20 ms frames), four residual blocks dilated 2, 4,
8 and 16 (a receptive field of about 1.3 s: a spoken word in view) and a 1x1 classifier.
mmedge.tasks.EventHead(activation='sigmoid', frame_s=0.02) decodes it.
"""

from __future__ import annotations

import torch
from torch import nn

FRAME_S = 0.02  # s per output frame (10 ms log-mel hop x stride 2)


def _conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(cin, cout, k, stride, padding=dilation * (k // 2), dilation=dilation),
        nn.BatchNorm1d(cout),
        nn.ReLU(),
    )


class TinySED(nn.Module):
    """~60k parameters at width 48."""

    def __init__(self, num_classes: int = 10, mels: int = 40, width: int = 48) -> None:
        super().__init__()
        self.inp = _conv(mels, width, 5)
        self.down = _conv(width, width, 3, stride=2)
        self.blocks = nn.ModuleList([_conv(width, width, 3, dilation=d) for d in (2, 4, 8, 16)])
        self.head = nn.Conv1d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(self.inp((x + 40.0) / 20.0))  # dB around -40 to about unit scale
        for block in self.blocks:
            y = y + block(y)
        return self.head(y).transpose(1, 2)


def tiny_sed() -> TinySED:
    """The factory `mmedge export mmedge.export.zoo_sed:tiny_sed` calls."""
    return TinySED()
