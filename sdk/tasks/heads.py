"""The task heads a bundle manifest can declare, by their `task` key: detection
(DetectionHead), segmentation (SegmentationHead) and audio events (EventHead)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmedge.errors import PostprocessError
from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.event_head import EventHead
from mmedge.tasks.segmentation import SegmentationHead

Head = DetectionHead | SegmentationHead | EventHead
HEADS: dict[str, type[DetectionHead] | type[SegmentationHead] | type[EventHead]] = {
    "detection": DetectionHead,
    "segmentation": SegmentationHead,
    "audio_events": EventHead,
}


def head_from_dict(d: Mapping[str, Any]) -> Head:
    """The head a manifest entry declares; an unknown task is refused by name."""
    task = d.get("task", "detection")
    if task not in HEADS:
        raise PostprocessError(f"unknown head task {task!r}; known: {sorted(HEADS)}")
    return HEADS[task].from_dict(d)
