"""`DetectionHead`: a detector's output declared in the bundle manifest (which output, its
layout, the decode and NMS options), and the post-processing that turns raw outputs into
`Detections` in source-frame pixels with the kernels of mmedge._C (decode + NMS + top-k +
back-mapping in one call per batch, GIL released).

Manifest entry (one item of the manifest's `heads`):
    {"task": "detection", "kind": "anchor_free", "output": "boxes",
     "layout": "channels_first", "box_format": "cxcywh", "objectness": false,
     "score_threshold": 0.25, "iou_threshold": 0.45, "max_detections": 300,
     "max_nms_candidates": 30000, "class_agnostic": false, "multi_label": false,
     "nms": "kernel"}
kind anchor_free: (1, 4 [+ 1] + C, N) channels-first as YOLOv8/11 export it (layout
candidates_first: (1, N, 4 [+1] + C), as YOLOv5); class scores already in 0..1. kind end2end:
(1, N, 6) rows of x1, y1, x2, y2, score, class with NMS done in the graph (nms "graph").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PostprocessError
from mmedge.tasks.detections import Detections
from mmedge.tasks.head_base import HeadBase

KINDS = ("anchor_free", "end2end")
LAYOUTS = ("channels_first", "candidates_first")
BOX_FORMATS = ("cxcywh", "xyxy")
NMS_PLACES = ("kernel", "graph")


@dataclass(frozen=True)
class DetectionHead(HeadBase):
    """How a detector's raw output becomes Detections (see the module docstring)."""

    kind: str = "anchor_free"
    output: str | None = None
    layout: str = "channels_first"
    box_format: str = "cxcywh"
    objectness: bool = False
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 300
    max_nms_candidates: int = 30000
    class_agnostic: bool = False
    multi_label: bool = False
    nms: str = "kernel"
    task: str = "detection"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, allowed in (
            ("kind", KINDS),
            ("layout", LAYOUTS),
            ("box_format", BOX_FORMATS),
            ("nms", NMS_PLACES),
            ("task", ("detection",)),
        ):
            if getattr(self, name) not in allowed:
                raise PostprocessError(
                    f"DetectionHead.{name} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not 0.0 <= self.score_threshold < 1.0:
            raise PostprocessError(
                f"DetectionHead.score_threshold must be in [0, 1), got {self.score_threshold}"
            )
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise PostprocessError(
                f"DetectionHead.iou_threshold must be in [0, 1], got {self.iou_threshold}"
            )
        for name in ("max_detections", "max_nms_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PostprocessError(f"DetectionHead.{name} must be an int >= 1, got {value!r}")
        if (self.kind == "end2end") != (self.nms == "graph"):
            raise PostprocessError(
                "DetectionHead: an end2end head has its NMS in the graph (nms='graph'), an "
                "anchor_free head in the kernel (nms='kernel')"
            )

    @property
    def channels_first(self) -> bool:
        return self.kind == "anchor_free" and self.layout == "channels_first"

    def values(self, num_classes: int) -> int:
        """Values per candidate of the head tensor."""
        return 6 if self.kind == "end2end" else 4 + int(self.objectness) + num_classes

    def check_output(self, shape: Sequence[int | str], num_classes: int, where: str) -> None:
        """Raises PostprocessError when a declared output shape cannot be this head (checked
        when the bundle loads, not at the first frame). Symbolic dimensions pass."""
        if len(shape) != 3:
            raise PostprocessError(
                f"{where}: a {self.kind} head needs a rank-3 output (batch, ..., ...), got "
                f"shape {list(shape)}"
            )
        values = shape[1] if self.channels_first else shape[2]
        want = self.values(num_classes)
        if isinstance(values, int) and values != want:
            axis = "values x candidates" if self.channels_first else "candidates x values"
            raise PostprocessError(
                f"{where}: output shape {list(shape)} ({axis}) has {values} values per "
                f"candidate; the declared {self.kind} head with {num_classes} classes needs "
                f"{want} (4 box values{' + objectness' if self.objectness else ''} + classes)"
            )

    def kernel_options(self, num_classes: int) -> dict[str, Any]:
        """The options dict mmedge._C.detect takes."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("output", "layout", "nms", "task", "name", "labels"):
            d.pop(name)
        d["channels_first"] = self.channels_first
        d["num_classes"] = num_classes
        return d

    def decode(
        self,
        head: np.ndarray,
        maps: np.ndarray,
        labels: Sequence[str],
        frame_sizes: Sequence[tuple[int, int]],
    ) -> list[Detections]:
        """(batch, ...) raw head + (batch, 6) box maps (mmedge.tasks.geometry.box_map) -> one
        Detections per image (no timing fields)."""
        x = np.ascontiguousarray(head, dtype=np.float32)
        try:
            boxes, scores, classes, counts, nonfinite = C.detect(
                x, self.kernel_options(len(labels)), np.ascontiguousarray(maps, np.float32)
            )
        except ValueError as exc:
            raise PostprocessError(str(exc)) from exc
        out, start = [], 0
        for i, n in enumerate(counts):
            rows = slice(start, start + int(n))
            start += int(n)
            ids = classes[rows]
            out.append(
                Detections(
                    boxes[rows],
                    scores[rows],
                    ids,
                    tuple(labels[c] if 0 <= c < len(labels) else str(c) for c in ids),
                    frame_sizes[i],
                    nonfinite=int(nonfinite[i]),
                )
            )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DetectionHead:
        """Inverse of to_dict(); unknown keys are refused (a typo never goes unnoticed)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PostprocessError(f"DetectionHead does not know the keys {unknown}")
        return cls(**dict(d))
