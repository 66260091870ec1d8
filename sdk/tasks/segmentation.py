"""`SegmentationHead`: a semantic segmenter's output declared in the bundle manifest (which
output, per-pixel confidence or not), and the post-processing that turns its logits into
`Masks` at each source frame's resolution with mmedge._C.segment (bilinear through the inverse
of the ImageSpec geometry, argmax fused with the resize; GIL released).

Manifest entry (one item of the manifest's `heads`):
    {"task": "segmentation", "output": "logits", "confidence": false}
The output is (batch, classes, height, width) logits (or probabilities: the argmax is the
same), at the network input's size or a fraction of it (a stride-s head); classes = the
bundle's labels, at most 255 (class 255 marks pixels with non-finite logits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PostprocessError
from mmedge.tasks.head_base import HeadBase
from mmedge.tasks.masks import Masks

MAX_CLASSES = 255


@dataclass(frozen=True)
class SegmentationHead(HeadBase):
    """How a segmenter's logits become Masks (see the module docstring)."""

    output: str | None = None
    confidence: bool = False
    task: str = "segmentation"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "segmentation":
            raise PostprocessError(f"SegmentationHead.task must be segmentation, got {self.task!r}")
        if not isinstance(self.confidence, bool):
            raise PostprocessError(
                f"SegmentationHead.confidence must be true or false, got {self.confidence!r}"
            )

    def check_output(self, shape: Sequence[int | str], num_classes: int, where: str) -> None:
        """Raises PostprocessError when a declared output shape cannot be this head (checked
        when the bundle loads). Symbolic dimensions pass."""
        if len(shape) != 4:
            raise PostprocessError(
                f"{where}: a segmentation head needs (batch, classes, height, width) logits, got "
                f"shape {list(shape)}"
            )
        if not 1 <= num_classes <= MAX_CLASSES:
            raise PostprocessError(f"{where}: {num_classes} labels; masks hold 1..{MAX_CLASSES}")
        if isinstance(shape[1], int) and shape[1] != num_classes:
            raise PostprocessError(
                f"{where}: output shape {list(shape)} has {shape[1]} class planes; the bundle "
                f"has {num_classes} labels"
            )

    def decode(
        self,
        logits: np.ndarray,
        maps: np.ndarray,
        labels: Sequence[str],
        frame_sizes: Sequence[tuple[int, int]],
    ) -> list[Masks]:
        """(batch, classes, h, w) logits + (batch, 10) maps (mmedge.tasks.geometry.mask_map)
        -> one Masks per image (no timing fields)."""
        x = np.ascontiguousarray(logits, dtype=np.float32)
        try:
            masks, confidence, nonfinite = C.segment(x, maps, self.confidence)
        except ValueError as exc:
            raise PostprocessError(str(exc)) from exc
        return [
            Masks(
                masks[i],
                tuple(labels),
                frame_sizes[i],
                None if confidence is None else confidence[i],
                nonfinite=int(nonfinite[i]),
            )
            for i in range(len(masks))
        ]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SegmentationHead:
        """Inverse of to_dict(); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PostprocessError(f"SegmentationHead does not know the keys {unknown}")
        return cls(**dict(d))
