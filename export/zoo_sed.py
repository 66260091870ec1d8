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


def conv_reach(model: nn.Module) -> int:
    """How many input rows before a frame's first row, or after its last, an output frame of
    `model` depends on at most: its Conv1d layers composed in the order they are registered
    (each one's kernel, dilation, stride and padding; residual sums add no reach). The
    EventHead's context_s is this times the feature hop."""
    jump, before, after = 1, 0, 0  # output j reads rows [j * jump - before, j * jump + after]
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv1d)):
        (k,), (d,), (stride,), (pad,) = conv.kernel_size, conv.dilation, conv.stride, conv.padding
        before += pad * jump
        after += (d * (k - 1) - pad) * jump
        jump *= stride
    return max(before, after - (jump - 1))


def tiny_sed() -> TinySED:
    """The factory `mmedge export mmedge.export.zoo_sed:tiny_sed` calls."""
    return TinySED()
