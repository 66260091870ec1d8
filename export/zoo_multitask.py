"""A small two-head network on one shared encoder: digit boxes and digit strokes from one pass.

TinyMultiTask maps (N, 3, H, W) to two outputs:
  boxes:  (N, 4 + C, H/8 * W/8), TinyDetector's layout (per stride-8 cell the box (cx, cy, w, h)
          in input px, then C class sigmoids; mmedge.tasks.DetectionHead decodes it);
  masks:  (N, 1 + C, H/2, W/2) class logits, TinySegmenter's (background, then the C classes;
          mmedge.tasks.SegmentationHead maps them back to the frame).
The encoder and the mask decoder are TinySegmenter's; the box head reads the stride-8 features
with the stride-16 ones upsampled beside them (a digit's class needs the whole digit in view).
Input sides multiples of 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmedge.export.zoo_detector import STRIDE, cell_centres, head_rows
from mmedge.export.zoo_segmenter import TinySegmenter, _conv


class TinyMultiTask(nn.Module):
    """~230k parameters at width 12, num_classes 10."""

    def __init__(self, num_classes: int = 10, width: int = 12) -> None:
        super().__init__()
        c = width
        self.num_classes = num_classes
        self.segmenter = TinySegmenter(num_classes + 1, width)
        self.neck = _conv(8 * c, 4 * c)
        self.box = nn.Sequential(_conv(4 * c, 4 * c), nn.Conv2d(4 * c, 4, 1))
        self.cls = nn.Sequential(_conv(4 * c, 4 * c), nn.Conv2d(4 * c, num_classes, 1))
        nn.init.constant_(self.cls[-1].bias, -4.6)  # sigmoid ~ 0.01: few cells hold objects

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ltrb distances (N, 4, HW) px, class logits (N, C, HW), cell centres (HW, 2) px,
        mask logits (N, 1 + C, H/2, W/2))."""
        features = self.segmenter.encode(x)
        f8, f16 = features[2], features[3]
        f = self.neck(torch.cat([f8, F.interpolate(f16, scale_factor=2.0, mode="nearest")], 1))
        n, _, h, w = f.shape
        ltrb = F.softplus(self.box(f)).reshape(n, 4, h * w) * STRIDE
        logits = self.cls(f).reshape(n, self.num_classes, h * w)
        return ltrb, logits, cell_centres(h, w, x), self.segmenter.decode(features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ltrb, logits, centres, masks = self.raw(x)
        return head_rows(ltrb, logits, centres), masks


def tiny_multitask() -> TinyMultiTask:
    """The factory `mmedge export mmedge.export.zoo_multitask:tiny_multitask` calls."""
    return TinyMultiTask()
