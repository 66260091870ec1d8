"""`EventHead`: an audio event detector's output declared in the bundle manifest, and the
decoding of its frame-level posteriors into `AudioEvents`, for a whole recording (decode) or a
stream (EventTracker, the same events, frame by frame).

Manifest entry (one item of the manifest's `heads`):
    {"task": "audio_events", "output": "frames", "frame_s": 0.032, "activation": "sigmoid",
     "onset_threshold": 0.5, "offset_threshold": 0.3, "median_frames": 5,
     "min_duration_s": 0.1, "min_gap_s": 0.1, "ignore_classes": []}
The output is (batch, frames, classes): one row of scores per frame of frame_s seconds (frame
t covers [t, t + 1) x frame_s after the recording's start); activation turns the scores into
posteriors (sigmoid: multi-label logits; softmax: one class per frame; none: posteriors).

Decoding, per class and independently (events of different classes may overlap):
1. a median filter of median_frames (odd) along time, the edge frames repeated;
2. hysteresis: an event starts at the first frame with posterior >= onset_threshold and ends
   at the first later frame below offset_threshold (offset <= onset: a posterior that wavers
   between them does not split an event);
3. events of one class less than min_gap_s apart are joined; then events shorter than
   min_duration_s are dropped;
4. an event still on when the recording (stream) ends ends there, flagged open_ended.
An event's score is its highest smoothed posterior. Thresholds outside 0 < offset <= onset < 1
are refused when the head is built.

context_s (optional): the network's reach in s on each side of an output frame (a frame's score
depends on the input from context_s before its start to context_s after its end; half the
receptive field of a non-causal network, 0 for a causal one). A live stream
(mmedge.runtime.event_stream.EventStream) runs the network on windows with that much context
on each side, so its scores are the whole recording's; None: not declared, no stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mmedge.errors import PostprocessError
from mmedge.tasks.events import AudioEvents
from mmedge.tasks.head_base import HeadBase

ACTIVATIONS = ("sigmoid", "softmax", "none")


@dataclass(frozen=True)
class EventHead(HeadBase):
    """How a detector's frame posteriors become AudioEvents (see the module docstring)."""

    frame_s: float = 0.0
    output: str | None = None
    activation: str = "sigmoid"
    onset_threshold: float = 0.5
    offset_threshold: float = 0.3
    median_frames: int = 1
    min_duration_s: float = 0.0
    min_gap_s: float = 0.0
    ignore_classes: tuple[int, ...] = ()
    context_s: float | None = None
    task: str = "audio_events"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "ignore_classes", tuple(int(c) for c in self.ignore_classes))
        if self.task != "audio_events":
            raise PostprocessError(f"EventHead.task must be audio_events, got {self.task!r}")
        if self.activation not in ACTIVATIONS:
            raise PostprocessError(
                f"EventHead.activation must be one of {', '.join(ACTIVATIONS)}, got "
                f"{self.activation!r}"
            )
        if not self.frame_s > 0:
            raise PostprocessError(f"EventHead.frame_s must be > 0 s per frame, got {self.frame_s}")
        if not 0.0 < self.offset_threshold <= self.onset_threshold < 1.0:
            raise PostprocessError(
                "EventHead thresholds need 0 < offset_threshold <= onset_threshold < 1, got "
                f"onset {self.onset_threshold}, offset {self.offset_threshold}"
            )
        m = self.median_frames
        if isinstance(m, bool) or not isinstance(m, int) or m < 1 or m % 2 == 0:
            raise PostprocessError(f"EventHead.median_frames must be an odd int >= 1, got {m!r}")
        if not (self.min_duration_s >= 0 and self.min_gap_s >= 0):
            raise PostprocessError("EventHead.min_duration_s and min_gap_s must be >= 0 s")
        if self.context_s is not None and not self.context_s >= 0:
            raise PostprocessError(f"EventHead.context_s must be >= 0 s, got {self.context_s}")

    @property
    def latency_s(self) -> float:
        """How long after an event's true end a stream can report it, at most: the median
        filter's look-ahead plus the gap that could still join a next event (s), on top of the
        model's own look-ahead and the frame being complete."""
        return (self.median_frames // 2) * self.frame_s + self.min_gap_s

    def check_output(self, shape: Sequence[int | str], num_classes: int, where: str) -> None:
        """Raises PostprocessError when a declared output shape cannot be this head."""
        if len(shape) != 3:
            raise PostprocessError(
                f"{where}: an audio_events head needs (batch, frames, classes) scores, got shape "
                f"{list(shape)}"
            )
        if isinstance(shape[2], int) and shape[2] != num_classes:
            raise PostprocessError(
                f"{where}: output shape {list(shape)} has {shape[2]} classes per frame; the bundle "
                f"has {num_classes} labels"
            )
        if any(not 0 <= c < num_classes for c in self.ignore_classes):
            raise PostprocessError(
                f"{where}: ignore_classes {self.ignore_classes} are not class ids of the labels"
            )

    def posteriors(self, scores: np.ndarray) -> np.ndarray:
        """(frames, classes) scores -> posteriors by the head's activation (float64)."""
        x = np.asarray(scores, np.float64)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if self.activation == "softmax":
            e = np.exp(x - x.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return x

    def decode(
        self, scores: np.ndarray, labels: Sequence[str], start_s: float = 0.0
    ) -> AudioEvents:
        """The events of one recording's (frames, classes) scores (or (1, frames, classes)),
        times from start_s (s)."""
        tracker = EventTracker(self, labels, start_s)
        return AudioEvents.concat([tracker.push(scores), tracker.flush()])

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["ignore_classes"] = list(self.ignore_classes)
        if d["context_s"] is None:  # not declared: manifests from before it stay as they were
            d.pop("context_s")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EventHead:
        """Inverse of to_dict(); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PostprocessError(f"EventHead does not know the keys {unknown}")
        return cls(**dict(d))


class EventTracker:
    """Streaming decoding: push() the scores of consecutive frames as they come (any chunk
    sizes), get the events that are final; flush() at the stream's end. The events are those
    EventHead.decode gives on the whole recording (tested with random chunkings). Memory is
    bounded: the median filter's window and one pending event per class."""

    def __init__(self, head: EventHead, labels: Sequence[str], start_s: float = 0.0) -> None:
        self.head, self.labels, self.start_s = head, list(labels), float(start_s)
        self.classes = len(self.labels)
        self._half = head.median_frames // 2
        self._rows: list[np.ndarray] = []  # posteriors of frames _base, _base + 1, ...
        self._base = self._seen = self._done = 0
        c = self.classes
        self._on = np.zeros(c, bool)
        self._start = np.zeros(c, np.int64)
        self._peak = np.zeros(c)
        self._pending: list[list[float] | None] = [None] * c  # [start, end, peak] frames
        self._allowed = np.ones(c, bool)
        self._allowed[list(head.ignore_classes)] = False

    def push(self, scores: np.ndarray) -> AudioEvents:
        """Decodes what the new frames settle; returns the events that can no longer change."""
        x = np.asarray(scores)
        if x.ndim == 3 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 2 or x.shape[1] != self.classes:
            raise PostprocessError(
                f"scores must be (frames, {self.classes}) for {self.classes} labels, got {x.shape}"
            )
        self._rows.extend(self.head.posteriors(x))
        self._seen += len(x)
        out: list[tuple[int, int, int, float, bool]] = []
        while self._done + self._half < self._seen:
            self._decode(self._done + self._half, out)
        return self._events(out)

    def flush(self) -> AudioEvents:
        """The stream ended: its last frames are smoothed with the last frame repeated, an event
        still on ends at the stream's end (open_ended), pending events are final."""
        out: list[tuple[int, int, int, float, bool]] = []
        while self._done < self._seen:
            self._decode(self._seen - 1, out)
        for c in np.flatnonzero(self._on):
            self._close(int(c), self._seen, out)
            pending = self._pending[c]
            assert pending is not None
            out.append((int(c), int(pending[0]), int(pending[1]), pending[2], True))
            self._pending[c] = None
        self._on[:] = False
        for c in range(self.classes):
            self._emit(c, out)
        return self._events(out)

    # -- internals ---------------------------------------------------------------------------

    def _decode(self, last: int, out: list) -> None:
        """Smooths frame _done (its window clipped to frames 0..last), then thresholds it."""
        t = self._done
        index = np.clip(np.arange(t - self._half, t + self._half + 1), 0, last) - self._base
        p = np.median(np.stack([self._rows[i] for i in index]), axis=0)
        self._step(p, t, out)
        self._done += 1
        drop = self._done - self._half - self._base  # rows no window needs any more
        if drop > 0:
            del self._rows[:drop]
            self._base += drop

    def _step(self, p: np.ndarray, t: int, out: list) -> None:
        h = self.head
        ends = self._on & (p < h.offset_threshold)
        for c in np.flatnonzero(ends):
            self._close(int(c), t, out)
        self._on &= ~ends
        starts = ~self._on & self._allowed & (p >= h.onset_threshold)
        self._start[starts] = t
        self._peak[starts] = 0.0
        self._on |= starts
        self._peak = np.where(self._on, np.maximum(self._peak, p), self._peak)
        for c in np.flatnonzero(~self._on):  # no later event can join a pending one any more
            pending = self._pending[c]
            if pending is not None and (t + 1 - pending[1]) * h.frame_s >= h.min_gap_s:
                self._emit(int(c), out)

    def _close(self, c: int, end: int, out: list) -> None:
        """Class c's event ends at frame `end`: joined to the pending one across a short gap,
        or pending itself (the previous one is then final)."""
        start, peak = int(self._start[c]), float(self._peak[c])
        pending = self._pending[c]
        if pending is not None and (start - pending[1]) * self.head.frame_s < self.head.min_gap_s:
            pending[1], pending[2] = end, max(pending[2], peak)
            return
        self._emit(c, out)
        self._pending[c] = [start, end, peak]

    def _emit(self, c: int, out: list) -> None:
        pending = self._pending[c]
        if pending is not None:
            out.append((c, int(pending[0]), int(pending[1]), pending[2], False))
            self._pending[c] = None

    def _events(self, found: list[tuple[int, int, int, float, bool]]) -> AudioEvents:
        f = self.head.frame_s
        rows = [e for e in found if (e[2] - e[1]) * f >= self.head.min_duration_s]
        if not rows:
            return AudioEvents.empty()
        c = np.array([e[0] for e in rows], np.int32)
        return AudioEvents.concat([AudioEvents(
            self.start_s + np.array([e[1] for e in rows], np.float64) * f,
            self.start_s + np.array([e[2] for e in rows], np.float64) * f,
            c, tuple(self.labels[i] for i in c), np.array([e[3] for e in rows], np.float32),
            np.array([e[4] for e in rows], bool),
        )])  # fmt: skip
