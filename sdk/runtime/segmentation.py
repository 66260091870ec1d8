"""Model.predict for bundles with a segmentation head: preprocess, infer, and the head's masks
at each frame's resolution (argmax fused with the resize in mmedge._C), timed per part."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess.image import frame_size
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.tasks.geometry import mask_map
from mmedge.tasks.masks import Masks

if TYPE_CHECKING:
    from mmedge.runtime.model import Model


def predict_masks(model: Model, samples: Sequence[Any]) -> list[Masks]:
    """Masks of N frames in one backend call, each at its frame's own size."""
    spec = model.spec
    if not isinstance(spec, ImageSpec) or len(model.inputs) != 1:
        raise PreprocessError(
            f"bundle {model.bundle.name!r}: segmentation heads run on single-input image models"
        )
    head = model.heads[0]
    t0 = time.perf_counter()
    feeds = model.preprocess_batch(samples)
    t1 = time.perf_counter()
    results = model.backend.infer(feeds)
    t2 = time.perf_counter()
    logits = results[head.output or model.outputs[0].name]
    sizes = [frame_size(s, spec) for s in samples]
    maps = np.stack([mask_map(spec, w, h, logits.shape[3], logits.shape[2]) for w, h in sizes])
    found = head.decode(logits, maps, model.labels, sizes)
    t3 = time.perf_counter()
    per = 1000.0 / len(samples)
    return [
        replace(
            m,
            latency_ms=(t3 - t0) * per,
            preprocess_ms=(t1 - t0) * per,
            infer_ms=(t2 - t1) * per,
            postprocess_ms=(t3 - t2) * per,
            outputs={name: value[i] for name, value in results.items()},
        )
        for i, m in enumerate(found)
    ]
