"""A small encoder-decoder segmenter (U-Net shaped) and its loss.

TinySegmenter maps (N, 3, H, W) to (N, C, H/2, W/2) class logits: an encoder down to stride
16 for context (a digit's class needs the whole digit in view), a decoder back to stride 2 with
skip connections for the strokes' edges. mmedge.tasks.SegmentationHead resamples the logits to
the source frame and takes the argmax. Input sides multiples of 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 2  # logits per input pixel: 1 / STRIDE


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class TinySegmenter(nn.Module):
    """~60k parameters at width 12."""

    def __init__(self, num_classes: int = 11, width: int = 12) -> None:
        super().__init__()
        c = width
        self.num_classes = num_classes
        self.s2 = nn.Sequential(_conv(3, c, 2), _conv(c, c))
        self.s4 = nn.Sequential(_conv(c, 2 * c, 2), _conv(2 * c, 2 * c))
        self.s8 = nn.Sequential(_conv(2 * c, 4 * c, 2), _conv(4 * c, 4 * c))
        self.s16 = nn.Sequential(_conv(4 * c, 4 * c, 2), _conv(4 * c, 4 * c))
        self.up8 = _conv(8 * c, 4 * c)
        self.up4 = _conv(6 * c, 2 * c)
        self.up2 = _conv(3 * c, c)
        self.head = nn.Conv2d(c, num_classes, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The encoder's features at strides 2, 4, 8 and 16."""
        f2 = self.s2(x)
        f4 = self.s4(f2)
        f8 = self.s8(f4)
        return f2, f4, f8, self.s16(f8)

    def decode(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Class logits at stride 2 from encode()'s features."""
        f2, f4, f8, f16 = features
        y = self.up8(torch.cat([F.interpolate(f16, scale_factor=2.0, mode="nearest"), f8], 1))
        y = self.up4(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), f4], 1))
        y = self.up2(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), f2], 1))
        return self.head(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor
) -> torch.Tensor:
    """Class-weighted cross-entropy at the logits' resolution (target: (N, h, w) int64 class
    ids, 255 ignored) plus a soft Dice term over the foreground classes (strokes are ~1% of
    the pixels)."""
    ce = F.cross_entropy(logits, target, weight=class_weights, ignore_index=255)
    probs = logits.softmax(1)
    valid = (target != 255).unsqueeze(1)
    onehot = F.one_hot(target.clamp(max=logits.shape[1] - 1), logits.shape[1])
    onehot = onehot.permute(0, 3, 1, 2).to(probs.dtype) * valid
    probs = probs * valid
    inter = (probs * onehot).sum((0, 2, 3))[1:]
    total = (probs + onehot).sum((0, 2, 3))[1:]
    dice = 1 - (2 * inter + 1) / (total + 1)
    return ce + dice.mean()


def tiny_segmenter() -> TinySegmenter:
    """The factory `mmedge export mmedge.export.zoo_segmenter:tiny_segmenter` calls."""
    return TinySegmenter()
