"""`HeadResults`: one frame's results of a multi-task bundle, one per task head by the head's
name (Detections, Masks), with the timing of the whole prediction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class HeadResults(Mapping[str, Any]):
    """A read-only mapping head name -> that head's result, in the manifest's order.

    latency_ms: wall time of the prediction (one preprocess, one inference, every head's
        decode), ms; for a batch, the batch's time divided by its size. preprocess_ms /
        infer_ms / postprocess_ms: its parts (postprocess: all heads; each result's own
        postprocess_ms is its head's share).
    outputs: this frame's row of every model output by name, as the backend returned them.
    """

    results: Mapping[str, Any]
    latency_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.results[name]
        except KeyError:
            raise KeyError(f"no head named {name!r}; the heads are {list(self.results)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)
