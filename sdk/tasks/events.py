"""`AudioEvents`: what happened when in a recording or stream, as arrays: each event's onset and
offset (s, source time), class, score, and whether the stream ended inside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmedge.errors import PostprocessError


@dataclass(frozen=True)
class AudioEvents:
    """Events of one recording (or of one stretch of a stream).

    onsets_s, offsets_s: (N,) float64 source times (s), onset < offset, by onset.
    class_ids: (N,) int32; labels: the N class names. scores: (N,) float32, the event's highest
    smoothed posterior. open_ended: (N,) bool, the stream ended inside the event (its offset
    is the stream's end, not a detected end). stream: its stream ('' outside pipelines).
    """

    onsets_s: np.ndarray
    offsets_s: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    open_ended: np.ndarray
    stream: str = ""

    def __post_init__(self) -> None:
        n = len(self.onsets_s)
        shapes = (self.offsets_s.shape, self.class_ids.shape, self.scores.shape)
        if any(s != (n,) for s in shapes) or self.open_ended.shape != (n,) or len(self.labels) != n:
            raise PostprocessError(f"AudioEvents: arrays of {n} events disagree: {shapes}")

    def __len__(self) -> int:
        return len(self.onsets_s)

    @classmethod
    def empty(cls, stream: str = "") -> AudioEvents:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int32), (), np.zeros(0, np.float32),
                   np.zeros(0, bool), stream)  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[AudioEvents], stream: str = "") -> AudioEvents:
        """The events of several stretches, by onset (then class)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(stream)
        on = np.concatenate([p.onsets_s for p in parts])
        cid = np.concatenate([p.class_ids for p in parts])
        order = np.lexsort((cid, on))
        labels = tuple(s for p in parts for s in p.labels)
        return cls(
            on[order],
            np.concatenate([p.offsets_s for p in parts])[order],
            cid[order],
            tuple(labels[i] for i in order),
            np.concatenate([p.scores for p in parts])[order],
            np.concatenate([p.open_ended for p in parts])[order],
            stream,
        )

    def to_list(self) -> list[dict[str, Any]]:
        """One dict per event: onset, offset (s), label, score, open_ended (JSON-friendly; the
        shape sed_eval's event lists take, with event_label)."""
        return [
            {
                "onset": float(self.onsets_s[i]),
                "offset": float(self.offsets_s[i]),
                "event_label": self.labels[i],
                "score": float(self.scores[i]),
                "open_ended": bool(self.open_ended[i]),
            }
            for i in range(len(self))
        ]
