"""`Masks`: a segmenter's answer for one frame: a class mask at the source frame's resolution
(uint8, one class id per pixel) and, when asked, each pixel's confidence, with the frame's time
and stream. Arrays, not objects per region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.errors import PostprocessError

UNKNOWN = 255  # a pixel whose logits held a NaN or Inf


@dataclass(frozen=True)
class Masks:
    """The segmentation of one frame.

    mask: (height, width) uint8 class ids in source-frame pixels; UNKNOWN (255) where the
        network's logits were not finite. labels: the class names, by id.
    confidence: (height, width) float32 softmax probability of each pixel's class, or None.
    frame_size: (width, height) px. t_s: source time (s); stream: its stream ('' outside
        pipelines). latency_ms, preprocess_ms, infer_ms, postprocess_ms: wall time, ms.
    nonfinite: logit pixels with a NaN or Inf.
    """

    mask: np.ndarray
    labels: tuple[str, ...]
    frame_size: tuple[int, int]
    confidence: np.ndarray | None = None
    t_s: float = 0.0
    stream: str = ""
    latency_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    nonfinite: int = 0
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        w, h = self.frame_size
        if self.mask.shape != (h, w) or self.mask.dtype != np.uint8:
            raise PostprocessError(
                f"Masks: mask {self.mask.shape} {self.mask.dtype} for a {w}x{h} frame "
                "(needs uint8 (height, width))"
            )
        if self.confidence is not None and self.confidence.shape != (h, w):
            raise PostprocessError(f"Masks: confidence {self.confidence.shape} for {w}x{h}")

    def areas(self) -> np.ndarray:
        """(classes,) int64 pixels of each class (UNKNOWN pixels not counted)."""
        return np.bincount(self.mask.reshape(-1), minlength=256)[: len(self.labels)]

    def present(self) -> tuple[str, ...]:
        """Names of the classes with at least one pixel, by id."""
        return tuple(self.labels[i] for i in np.flatnonzero(self.areas()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: pixel counts per class, not the mask itself."""
        areas = self.areas()
        return {
            "frame_size": list(self.frame_size),
            "t_s": self.t_s,
            "stream": self.stream,
            "areas": {self.labels[i]: int(areas[i]) for i in np.flatnonzero(areas)},
            "unknown": int((self.mask == UNKNOWN).sum()),
            "nonfinite": self.nonfinite,
            "latency_ms": self.latency_ms,
        }
