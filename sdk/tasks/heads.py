"""The task heads a bundle manifest can declare, by their `task` key: detection
(DetectionHead) and segmentation (SegmentationHead)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmedge.errors import PostprocessError
from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.segmentation import SegmentationHead

Head = DetectionHead | SegmentationHead
HEADS: dict[str, type[DetectionHead] | type[SegmentationHead]] = {
    "detection": DetectionHead,
    "segmentation": SegmentationHead,
}


def head_from_dict(d: Mapping[str, Any]) -> Head:
    """The head a manifest entry declares; an unknown task is refused by name."""
    task = d.get("task", "detection")
    if task not in HEADS:
        raise PostprocessError(f"unknown head task {task!r}; known: {sorted(HEADS)}")
    return HEADS[task].from_dict(d)
