"""Model.predict for bundles with a detection head: the head's decode + NMS + back-mapping to
each frame's pixels (runtime.image_heads times the parts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.runtime.image_heads import predict_image_head
from mmedge.tasks.detections import Detections
from mmedge.tasks.geometry import box_map

if TYPE_CHECKING:
    from mmedge.runtime.model import Model


def predict_detections(model: Model, samples: Sequence[Any]) -> list[Detections]:
    """Detections of N frames in one backend call, boxes in each frame's own pixels."""
    head = model.heads[0]

    def decode(raw: np.ndarray, spec: Any, sizes: list[tuple[int, int]]) -> list[Detections]:
        maps = np.stack([box_map(spec, w, h) for w, h in sizes])
        return head.decode(raw, maps, model.labels, sizes)

    return predict_image_head(model, samples, decode)
