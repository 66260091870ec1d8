"""`Detections`: what a detector found in one frame, as arrays (not lists of objects), in the
source frame's pixels, with the frame's time and stream. Round-trips through JSON and NumPy."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mmedge.errors import PostprocessError


@dataclass(frozen=True)
class Detections:
    """The detections of one frame.

    xyxy: (N, 4) float32 boxes (x1, y1, x2, y2) in source-frame pixels (edges, not pixel
        indices: a box covering the whole 640x480 frame is (0, 0, 640, 480)), clipped to it.
    scores: (N,) float32, 0..1, descending. class_ids: (N,) int32. labels: N class names.
    track_ids: (N,) int64 from a tracker (mmedge.track), or None.
    frame_size: (width, height) px of the source frame. t_s: its source time (s); stream: the
        name of the stream it came from ('' outside pipelines).
    latency_ms, preprocess_ms, infer_ms, postprocess_ms: wall time of the prediction and its
        parts, ms (for a batch, the batch's time divided by its size).
    nonfinite: candidates of the head skipped because a value was NaN or Inf.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...]
    frame_size: tuple[int, int]
    track_ids: np.ndarray | None = None
    t_s: float = 0.0
    stream: str = ""
    latency_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    nonfinite: int = 0
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.xyxy.shape != (n, 4) or self.class_ids.shape != (n,) or len(self.labels) != n:
            raise PostprocessError(
                f"Detections: xyxy {self.xyxy.shape}, scores ({n},), class_ids "
                f"{self.class_ids.shape} and {len(self.labels)} labels disagree"
            )
        if self.track_ids is not None and self.track_ids.shape != (n,):
            raise PostprocessError(f"Detections: track_ids {self.track_ids.shape} for {n} boxes")

    def __len__(self) -> int:
        return len(self.scores)

    def with_tracks(self, track_ids: np.ndarray) -> Detections:
        """A copy carrying a tracker's ids."""
        return replace(self, track_ids=np.asarray(track_ids, dtype=np.int64))

    def select(self, keep: np.ndarray | Sequence[int]) -> Detections:
        """The detections at these indices (or where a boolean mask is True)."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, int)
        return replace(
            self,
            xyxy=self.xyxy[idx],
            scores=self.scores[idx],
            class_ids=self.class_ids[idx],
            labels=tuple(self.labels[i] for i in idx),
            track_ids=None if self.track_ids is None else self.track_ids[idx],
        )

    # -- round trips ---------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """NumPy arrays by name (np.savez-ready); from_arrays() inverts it."""
        out = {
            "xyxy": self.xyxy,
            "scores": self.scores,
            "class_ids": self.class_ids,
            "labels": np.array(self.labels, dtype=str),
            "frame_size": np.array(self.frame_size, np.int64),
            "t_s": np.array(self.t_s, np.float64),
            "stream": np.array(self.stream),
        }
        if self.track_ids is not None:
            out["track_ids"] = self.track_ids
        return out

    @classmethod
    def from_arrays(cls, d: Mapping[str, np.ndarray]) -> Detections:
        return cls(
            xyxy=np.asarray(d["xyxy"], np.float32).reshape(-1, 4),
            scores=np.asarray(d["scores"], np.float32),
            class_ids=np.asarray(d["class_ids"], np.int32),
            labels=tuple(str(v) for v in np.asarray(d["labels"]).reshape(-1)),
            frame_size=tuple(int(v) for v in d["frame_size"]),  # type: ignore[arg-type]
            track_ids=np.asarray(d["track_ids"], np.int64) if "track_ids" in d else None,
            t_s=float(d.get("t_s", 0.0)),
            stream=str(d.get("stream", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: one entry per detection plus the frame's fields."""
        dets = []
        for i in range(len(self)):
            entry: dict[str, Any] = {
                "xyxy": [float(v) for v in self.xyxy[i]],
                "score": float(self.scores[i]),
                "class_id": int(self.class_ids[i]),
                "label": self.labels[i],
            }
            if self.track_ids is not None:
                entry["track_id"] = int(self.track_ids[i])
            dets.append(entry)
        return {
            "frame_size": list(self.frame_size),
            "t_s": self.t_s,
            "stream": self.stream,
            "detections": dets,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Detections:
        dets = d.get("detections", [])
        tracked = bool(dets) and all("track_id" in e for e in dets)
        return cls(
            xyxy=np.array([e["xyxy"] for e in dets], np.float32).reshape(-1, 4),
            scores=np.array([e["score"] for e in dets], np.float32),
            class_ids=np.array([e["class_id"] for e in dets], np.int32),
            labels=tuple(e["label"] for e in dets),
            frame_size=tuple(d["frame_size"]),  # type: ignore[arg-type]
            track_ids=np.array([e["track_id"] for e in dets], np.int64) if tracked else None,
            t_s=float(d.get("t_s", 0.0)),
            stream=str(d.get("stream", "")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Detections:
        return cls.from_dict(json.loads(text))
