"""Events of tracks: crossing a counting line, entering and leaving a region of interest.
Positions are each confirmed track's filtered box centre, px of the source frame, taken in the
frames where the track was matched (a crossing during an occlusion is counted when the track is
seen again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mmedge.track.tracker import Tracker

Point = tuple[float, float]


@dataclass(frozen=True)
class TrackEvent:
    """kind 'crossed' (direction +1: from the left of p1 -> p2 to its right, -1 back), or
    'entered' / 'exited' (regions); frame: the tracker's frame count."""

    kind: str
    name: str
    track_id: int
    label: str
    frame: int
    direction: int = 0


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def segments_cross(p: Point, q: Point, a: Point, b: Point) -> bool:
    """Whether segment p-q crosses segment a-b (proper crossing or an end on the other)."""
    d1, d2 = _cross(a, b, p), _cross(a, b, q)
    d3, d4 = _cross(p, q, a), _cross(p, q, b)
    return ((d1 > 0) != (d2 > 0)) and d1 != d2 and ((d3 > 0) != (d4 > 0) or d3 == 0 or d4 == 0)


def inside_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule (ray casting to the right)."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


class LineCounter:
    """Counts tracks crossing the segment p1 -> p2, per direction (counts[+1], counts[-1])."""

    def __init__(self, name: str, p1: Point, p2: Point) -> None:
        self.name, self.p1, self.p2 = name, p1, p2
        self.counts = {+1: 0, -1: 0}
        self._seen: dict[int, int] = {}  # track id -> number of centres already looked at

    def update(self, tracker: Tracker) -> list[TrackEvent]:
        events = []
        for t in tracker.confirmed():
            start = max(self._seen.get(t.track_id, 1), 1)
            for i in range(start, len(t.centres)):
                p, q = t.centres[i - 1], t.centres[i]
                if segments_cross(p, q, self.p1, self.p2):
                    direction = 1 if _cross(self.p1, self.p2, q) < 0 else -1
                    self.counts[direction] += 1
                    events.append(
                        TrackEvent(
                            "crossed", self.name, t.track_id, t.label, tracker.frame, direction
                        )
                    )
            self._seen[t.track_id] = len(t.centres)
        return events


class Region:
    """Reports tracks entering and leaving a polygon (px); `inside` holds the ids in it now."""

    def __init__(self, name: str, polygon: Sequence[Point]) -> None:
        if len(polygon) < 3:
            raise ValueError(f"region {name!r} needs at least 3 points, got {len(polygon)}")
        self.name, self.polygon = name, list(polygon)
        self.inside: set[int] = set()

    def update(self, tracker: Tracker) -> list[TrackEvent]:
        events = []
        alive = set()
        for t in tracker.confirmed():
            alive.add(t.track_id)
            now = inside_polygon(t.centres[-1], self.polygon)
            was = t.track_id in self.inside
            if now != was:
                kind = "entered" if now else "exited"
                events.append(TrackEvent(kind, self.name, t.track_id, t.label, tracker.frame))
                (self.inside.add if now else self.inside.discard)(t.track_id)
        self.inside &= alive  # tracks that ended are no longer anywhere
        return events
