"""A small anchor-free detector (FCOS / YOLOv8-style head on a small backbone) and its loss.

TinyDetector maps (N, 3, H, W) to the head Ultralytics' YOLOv8 exports: (N, 4 + C, H/8 * W/8),
channels first: per stride-8 cell the box (cx, cy, w, h) in input pixels, then C class scores
after the sigmoid. The box is the cell centre minus / plus softplus distances to the four edges
(left, top, right, bottom) times the stride. mmedge.tasks.DetectionHead(kind='anchor_free')
decodes it as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 8


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU()
    )


class TinyDetector(nn.Module):
    """~70k parameters at width 16; input sides multiples of 8."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        c = width
        self.num_classes = num_classes
        self.backbone = nn.Sequential(
            _conv(3, c, 2), _conv(c, c),
            _conv(c, 2 * c, 2), _conv(2 * c, 2 * c),
            _conv(2 * c, 4 * c, 2), _conv(4 * c, 4 * c),
        )  # fmt: skip
        self.box = nn.Sequential(_conv(4 * c, 4 * c), nn.Conv2d(4 * c, 4, 1))
        self.cls = nn.Sequential(_conv(4 * c, 4 * c), nn.Conv2d(4 * c, num_classes, 1))
        nn.init.constant_(self.cls[-1].bias, -4.6)  # sigmoid ~ 0.01: few cells hold objects

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ltrb distances (N, 4, HW) px, class logits (N, C, HW), cell centres (HW, 2) px)."""
        f = self.backbone(x)
        n, _, h, w = f.shape
        ltrb = F.softplus(self.box(f)).reshape(n, 4, h * w) * STRIDE
        logits = self.cls(f).reshape(n, self.num_classes, h * w)
        return ltrb, logits, cell_centres(h, w, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return head_rows(*self.raw(x))


def cell_centres(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(h * w, 2) centres (x, y) in input px of a stride-STRIDE grid of h x w cells."""
    ys = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) * STRIDE
    xs = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) * STRIDE
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def head_rows(ltrb: torch.Tensor, logits: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The exported head (N, 4 + C, HW): boxes (cx, cy, w, h) px, then class sigmoids."""
    cx, cy = centres[:, 0], centres[:, 1]
    x1, y1 = cx - ltrb[:, 0], cy - ltrb[:, 1]
    x2, y2 = cx + ltrb[:, 2], cy + ltrb[:, 3]
    boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)
    return torch.cat([boxes, torch.sigmoid(logits)], 1)


def _giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of matching rows of xyxy boxes."""
    w = (torch.min(a[:, 2], b[:, 2]) - torch.max(a[:, 0], b[:, 0])).clamp(min=0)
    h = (torch.min(a[:, 3], b[:, 3]) - torch.max(a[:, 1], b[:, 1])).clamp(min=0)
    inter = w * h
    area = lambda t: (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    hull = (torch.max(a[:, 2], b[:, 2]) - torch.min(a[:, 0], b[:, 0])) * (
        torch.max(a[:, 3], b[:, 3]) - torch.min(a[:, 1], b[:, 1])
    )
    iou = inter / union.clamp(min=1e-6)
    return iou - (hull - union) / hull.clamp(min=1e-6)


def detection_loss(
    model: TinyDetector,
    x: torch.Tensor,
    boxes: list[torch.Tensor],
    classes: list[torch.Tensor],
    radius: float = 1.5,
) -> torch.Tensor:
    """FCOS-style loss: a cell is positive for the smallest box that contains its centre
    within `radius` cells of the box's centre; sigmoid focal loss on the class scores (target:
    the positive's class), 1 - GIoU on the positives' boxes; both over the positive count."""
    return raw_detection_loss(*model.raw(x), boxes, classes, radius)


def raw_detection_loss(
    ltrb: torch.Tensor,
    logits: torch.Tensor,
    centres: torch.Tensor,
    boxes: list[torch.Tensor],
    classes: list[torch.Tensor],
    radius: float = 1.5,
) -> torch.Tensor:
    """detection_loss() of a head's raw parts (TinyDetector.raw's layout)."""
    target = torch.zeros_like(logits)
    loss_box, positives = logits.new_zeros(()), 0
    for i, (b, c) in enumerate(zip(boxes, classes, strict=True)):
        if len(b) == 0:
            continue
        cx, cy = centres[:, 0:1], centres[:, 1:2]  # (HW, 1) against (1, K)
        inside = (cx > b[:, 0]) & (cx < b[:, 2]) & (cy > b[:, 1]) & (cy < b[:, 3])
        near = ((cx - (b[:, 0] + b[:, 2]) / 2).abs() < radius * STRIDE) & (
            (cy - (b[:, 1] + b[:, 3]) / 2).abs() < radius * STRIDE
        )
        area = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None].expand(len(centres), -1)
        area = torch.where(inside & near, area, torch.full_like(area, float("inf")))
        best, which = area.min(1)
        pos = torch.isfinite(best)
        if not pos.any():
            continue
        cells, owner = pos.nonzero()[:, 0], which[pos]
        target[i, c[owner], cells] = 1.0
        pred = torch.stack(
            [
                centres[cells, 0] - ltrb[i, 0, cells],
                centres[cells, 1] - ltrb[i, 1, cells],
                centres[cells, 0] + ltrb[i, 2, cells],
                centres[cells, 1] + ltrb[i, 3, cells],
            ],
            1,
        )
        loss_box = loss_box + (1 - _giou(pred, b[owner])).sum()
        positives += len(cells)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha = 0.25 * target + 0.75 * (1 - target)
    focal = (alpha * ce * (1 - p_t) ** 2).sum()
    return (focal + 2.0 * loss_box) / max(positives, 1)


def tiny_detector(num_classes: int = 10, width: int = 16) -> TinyDetector:
    """The zoo's detector (see TinyDetector)."""
    return TinyDetector(num_classes, width)
