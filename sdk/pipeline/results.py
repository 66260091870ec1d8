"""What flows through a pipeline: one modality's result for one window of its input
(ModalityResult), and the fused answer at a trigger time (FusedResult) with each modality's part
in it (Contribution). Times are seconds of source time; `arrived` is time.monotonic()."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.tasks.detections import Detections
from mmedge.track.events import TrackEvent


@dataclass
class ModalityResult:
    """What one modality produced for one window of its input.

    t_start_s/t_end_s: the span of source time the window covers. probs: class probabilities
    (None in raw mode); embedding: the model's embedding output when it has one; raw: the
    window itself when the modality only feeds a model-level bundle. arrived: time.monotonic()
    when the newest source item of the window arrived (end-to-end latency starts there).
    detections: a detection modality's boxes of its frame (source time t_s = t_start_s,
    stream = the modality's name, track ids when the modality tracks); its probs are then the
    class presence: each class's best box score, normalised. events: what the modality's
    track counters (LineCounter, Region) reported at this frame.
    """

    modality: str
    t_start_s: float
    t_end_s: float
    probs: np.ndarray | None = None
    embedding: np.ndarray | None = None
    raw: Any = None
    sample_rate_hz: int | None = None
    arrived: float = 0.0
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    detections: Detections | None = None
    events: list[TrackEvent] = field(default_factory=list)
    health: str | None = None  # an input problem (mmedge.pipeline.health): late fusion skips it


@dataclass(frozen=True)
class Contribution:
    """One modality's part in a fused result: its window, how stale it was at the trigger
    (ms; negative = it ends after the trigger), its weight after renormalisation, and what it
    said on its own."""

    modality: str
    t_start_s: float
    t_end_s: float
    staleness_ms: float
    weight: float
    label: str | None
    score: float | None
    health: str | None = None  # why late fusion left it out (weight 0), if it did


@dataclass(frozen=True)
class FusedResult:
    """The fused answer at trigger time t_s (source time, s).

    detections: each detection modality's boxes of its chosen frame, its own scores.
    rescored: the same boxes with scores re-scored by the classifier modalities' class evidence
        (mmedge.pipeline.detection_fusion), where there was some.
    events: each detection modality's track events (line crossings, regions) at that frame.
    """

    t_s: float
    label: str
    index: int
    score: float
    probs: np.ndarray
    method: str
    contributors: list[Contribution]
    missing: list[str]
    latency_ms: float
    note: str = ""
    detections: Mapping[str, Detections] = field(default_factory=dict)
    rescored: Mapping[str, Detections] = field(default_factory=dict)
    events: Mapping[str, list[TrackEvent]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detections": {name: d.to_dict() for name, d in self.detections.items()},
            "rescored": {name: d.to_dict() for name, d in self.rescored.items()},
            "events": {name: [e.__dict__ for e in ev] for name, ev in self.events.items()},
            "t_s": self.t_s,
            "label": self.label,
            "score": self.score,
            "method": self.method,
            "probs": [float(p) for p in self.probs],
            "contributors": [c.__dict__ for c in self.contributors],
            "missing": self.missing,
            "latency_ms": self.latency_ms,
            "note": self.note,
        }
