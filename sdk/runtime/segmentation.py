"""Model.predict for bundles with a segmentation head: the head's masks at each frame's
resolution (argmax fused with the resize in mmedge._C; runtime.image_heads times the parts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.runtime.image_heads import predict_image_head
from mmedge.tasks.geometry import mask_map
from mmedge.tasks.masks import Masks

if TYPE_CHECKING:
    from mmedge.runtime.model import Model


def predict_masks(model: Model, samples: Sequence[Any]) -> list[Masks]:
    """Masks of N frames in one backend call, each at its frame's own size."""
    head = model.heads[0]

    def decode(logits: np.ndarray, spec: Any, sizes: list[tuple[int, int]]) -> list[Masks]:
        h, w = logits.shape[2:]
        maps = np.stack([mask_map(spec, fw, fh, w, h) for fw, fh in sizes])
        return head.decode(logits, maps, model.labels, sizes)

    return predict_image_head(model, samples, decode)
