"""`Tracker`: multi-object tracking over any detector's `Detections`, ByteTrack-style.

Every frame: each track's constant-velocity Kalman filter predicts its box; detections scoring at
least `high_score` are matched to all tracks, then those between `low_score` and `high_score` to
the tracks still unmatched that were seen in the previous frame (ByteTrack's second pass, which
keeps tracks through occlusions that lower the score); matching is the minimum-cost assignment
(Hungarian) of 1 - IoU between predicted and detected boxes of the same class, pairs below
`match_iou` refused. A track is confirmed after `min_frames` matched frames and removed after
`lost_frames` frames without a match. Unmatched detections scoring at least `new_track_score`
start new tracks, unless they cover a detection matched this frame at IoU >= `duplicate_iou`
(per-class NMS keeps a 3 and a 5 on the same digit; one object, one track).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmedge.tasks.detections import Detections
from mmedge.track.assignment import linear_sum_assignment
from mmedge.track.kalman import BoxFilter

_REFUSED = 1e6  # cost of a pair the gate refuses (another class, IoU below the threshold)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = a.astype(np.float64)[:, None], b.astype(np.float64)[None]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass
class Track:
    """One tracked object: its id, the class and label of the detection that started it, its
    filter, and how many frames it was (not) matched."""

    track_id: int
    class_id: int
    label: str
    filter: BoxFilter
    hits: int = 1
    misses: int = 0
    confirmed: bool = False
    centres: list[tuple[float, float]] = field(default_factory=list)

    @property
    def box(self) -> np.ndarray:
        return self.filter.box()


class Tracker:
    """Assigns persistent ids to detections frame after frame (see the module docstring).

    high_score, low_score: the two detection tiers (0..1). match_iou: least IoU of a matched
    pair (first pass; the second uses max(match_iou, 0.5), as ByteTrack). new_track_score: least
    score of a detection that starts a track (Ultralytics' new_track_thresh). duplicate_iou: a
    detection overlapping a matched one this much starts none. min_frames: matched frames
    before a track is reported. lost_frames: frames a track survives unmatched.
    class_aware: match only detections of the track's class. Off by default, as ByteTrack and
        Ultralytics' trackers: a detector whose class flickers between frames (a 3 read as a
        5 now and then) would otherwise start a new track at every flicker; a track reports
        the class of the detection it matched.
    """

    def __init__(
        self,
        *,
        high_score: float = 0.5,
        low_score: float = 0.1,
        match_iou: float = 0.2,
        new_track_score: float = 0.6,
        duplicate_iou: float = 0.7,
        min_frames: int = 3,
        lost_frames: int = 30,
        class_aware: bool = False,
    ) -> None:
        if not 0.0 <= low_score <= high_score <= 1.0:
            raise ValueError(
                f"need 0 <= low_score <= high_score <= 1, got {low_score}, {high_score}"
            )
        if min_frames < 1 or lost_frames < 0:
            raise ValueError(
                f"min_frames must be >= 1 and lost_frames >= 0, got {min_frames}, {lost_frames}"
            )
        self.high_score, self.low_score = high_score, low_score
        self.match_iou = match_iou
        self.new_track_score, self.duplicate_iou = new_track_score, duplicate_iou
        self.min_frames, self.lost_frames = min_frames, lost_frames
        self.class_aware = class_aware
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frame = 0

    def _match(
        self, tracks: list[Track], boxes: np.ndarray, classes: np.ndarray, least_iou: float
    ) -> list[tuple[int, int]]:
        """(track index, detection index) pairs of the minimum-cost assignment."""
        if not tracks or len(boxes) == 0:
            return []
        predicted = np.stack([t.box for t in tracks])
        iou = iou_matrix(predicted, boxes)
        cost = 1.0 - iou
        refused = iou < least_iou
        if self.class_aware:
            refused |= np.array([t.class_id for t in tracks])[:, None] != classes[None]
        cost[refused] = _REFUSED
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if not refused[r, c]]

    def update(self, detections: Detections) -> Detections:
        """Tracks one frame's detections; returns them with track_ids (-1 where no confirmed
        track holds the detection: a new or low-score one)."""
        self.frame += 1
        seen_last_frame = {id(t) for t in self.tracks if t.misses == 0}
        for t in self.tracks:
            t.filter.predict()
        ids = np.full(len(detections), -1, np.int64)
        boxes, scores, classes = detections.xyxy, detections.scores, detections.class_ids
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        matched_tracks: set[int] = set()
        first = self._match(self.tracks, boxes[high], classes[high], self.match_iou)
        for ti, di in first:
            self._hit(self.tracks[ti], boxes[high[di]])
            matched_tracks.add(ti)
            ids[high[di]] = self.tracks[ti].track_id if self.tracks[ti].confirmed else -1
        rest = [
            i
            for i, t in enumerate(self.tracks)
            if i not in matched_tracks and id(t) in seen_last_frame
        ]
        second = self._match(
            [self.tracks[i] for i in rest], boxes[low], classes[low], max(self.match_iou, 0.5)
        )
        for ri, di in second:
            ti = rest[ri]
            self._hit(self.tracks[ti], boxes[low[di]])
            matched_tracks.add(ti)
            ids[low[di]] = self.tracks[ti].track_id if self.tracks[ti].confirmed else -1
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.lost_frames]
        matched = [high[di] for _, di in first] + [low[di] for _, di in second]
        taken = iou_matrix(boxes, boxes[matched]) if matched else np.zeros((len(boxes), 0))
        for d in high:
            if d in matched or scores[d] < self.new_track_score:
                continue
            if taken.shape[1] and taken[d].max() >= self.duplicate_iou:
                continue  # another class's box on an object already tracked
            self._start(boxes[d], int(classes[d]), detections.labels[d])
            matched.append(d)
            taken = iou_matrix(boxes, boxes[matched])
            if self.min_frames <= 1:
                ids[d] = self.tracks[-1].track_id
        return detections.with_tracks(ids)

    def _hit(self, track: Track, box: np.ndarray) -> None:
        track.filter.update(box)
        track.hits += 1
        track.misses = 0
        track.confirmed = track.confirmed or track.hits >= self.min_frames
        b = track.box
        track.centres.append((float(b[0] + b[2]) / 2, float(b[1] + b[3]) / 2))

    def _start(self, box: np.ndarray, class_id: int, label: str) -> None:
        track = Track(self._next_id, class_id, label, BoxFilter(box))
        track.confirmed = self.min_frames <= 1
        track.centres.append((float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2))
        self._next_id += 1
        self.tracks.append(track)

    def confirmed(self) -> list[Track]:
        """The tracks reported now (confirmed and matched in the last frame or still alive)."""
        return [t for t in self.tracks if t.confirmed]
