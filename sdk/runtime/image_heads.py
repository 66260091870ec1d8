"""Model.predict for image bundles with a task head (detection, segmentation): preprocess the
frames in one kernel call, infer in one backend call, decode with the head, and time each part
(per frame: a batch's time divided by its size)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess.image import frame_size
from mmedge.preprocess.image_spec import ImageSpec

if TYPE_CHECKING:
    from mmedge.runtime.model import Model

Decode = Callable[[np.ndarray, ImageSpec, list[tuple[int, int]]], list[Any]]


def predict_image_head(model: Model, samples: Sequence[Any], decode: Decode) -> list[Any]:
    """decode(head output, spec, frame sizes (w, h) px) -> one result per frame, each given
    latency_ms, preprocess_ms, infer_ms, postprocess_ms and the raw outputs."""
    spec = model.spec
    if not isinstance(spec, ImageSpec) or len(model.inputs) != 1:
        raise PreprocessError(
            f"bundle {model.bundle.name!r}: {model.heads[0].task} heads run on single-input "
            "image models"
        )
    head = model.heads[0]
    t0 = time.perf_counter()
    feeds = model.preprocess_batch(samples)
    t1 = time.perf_counter()
    results = model.backend.infer(feeds)
    t2 = time.perf_counter()
    sizes = [frame_size(s, spec) for s in samples]
    found = decode(results[head.output or model.outputs[0].name], spec, sizes)
    t3 = time.perf_counter()
    per = 1000.0 / len(samples)
    return [
        replace(
            r,
            latency_ms=(t3 - t0) * per,
            preprocess_ms=(t1 - t0) * per,
            infer_ms=(t2 - t1) * per,
            postprocess_ms=(t3 - t2) * per,
            outputs={name: value[i] for name, value in results.items()},
        )
        for i, r in enumerate(found)
    ]
