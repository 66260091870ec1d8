"""Task heads: what a model's raw outputs mean. Detection: `DetectionHead` (declared in the
bundle manifest) decodes, suppresses and maps boxes back to the source frame into
`Detections`; `geometry` inverts the ImageSpec geometry for boxes."""

from __future__ import annotations

from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.detections import Detections
from mmedge.tasks.geometry import box_map, to_network, to_source

__all__ = ["DetectionHead", "Detections", "box_map", "to_network", "to_source"]
