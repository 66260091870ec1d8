"""Task heads: what a model's raw outputs mean, declared in the bundle manifest. Detection:
`DetectionHead` decodes, suppresses and maps boxes back to the source frame into `Detections`;
segmentation: `SegmentationHead` turns logits into `Masks` at the source frame's resolution;
audio events: `EventHead` turns frame scores into `AudioEvents` (batch or streaming with
`EventTracker`); `geometry` inverts the ImageSpec geometry for boxes and masks."""

from __future__ import annotations

from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.detections import Detections
from mmedge.tasks.event_head import EventHead, EventTracker
from mmedge.tasks.events import AudioEvents
from mmedge.tasks.geometry import box_map, mask_map, to_network, to_source
from mmedge.tasks.masks import Masks
from mmedge.tasks.segmentation import SegmentationHead

__all__ = [
    "AudioEvents",
    "DetectionHead",
    "Detections",
    "EventHead",
    "EventTracker",
    "Masks",
    "SegmentationHead",
    "box_map",
    "mask_map",
    "to_network",
    "to_source",
]
