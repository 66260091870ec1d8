"""Multi-object tracking over any detector (mmedge.Detections): `Tracker` (ByteTrack-style
two-tier association, Kalman prediction, Hungarian assignment), and track events:
`LineCounter` (crossings of a counting line) and `Region` (entering and leaving a polygon)."""

from __future__ import annotations

from mmedge.track.assignment import linear_sum_assignment
from mmedge.track.events import LineCounter, Region, TrackEvent
from mmedge.track.tracker import Track, Tracker, iou_matrix

__all__ = [
    "LineCounter",
    "Region",
    "Track",
    "TrackEvent",
    "Tracker",
    "iou_matrix",
    "linear_sum_assignment",
]
