"""Model.predict for image bundles with task heads (detection, segmentation, or several on one
network): preprocess the frames in one kernel call, infer in one backend call, decode each head
from its own output with its own labels, and time each part (per frame: a batch's time divided
by its size)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess.image import frame_size
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.detections import Detections
from mmedge.tasks.geometry import box_map, mask_map
from mmedge.tasks.head_results import HeadResults
from mmedge.tasks.masks import Masks
from mmedge.tasks.segmentation import SegmentationHead

if TYPE_CHECKING:
    from mmedge.runtime.model import Model

# raw head output, the spec, the frames' sizes (w, h) px -> one result per frame
Decode = Callable[[np.ndarray, ImageSpec, list[tuple[int, int]]], list[Any]]


def decoder(head: Any, labels: Sequence[str]) -> Decode:
    """The decode of a detection or segmentation head (boxes / masks in each frame's pixels)."""
    if isinstance(head, DetectionHead):

        def boxes(raw: np.ndarray, spec: ImageSpec, sizes: list[tuple[int, int]]) -> list[Any]:
            maps = np.stack([box_map(spec, w, h) for w, h in sizes])
            return head.decode(raw, maps, labels, sizes)

        return boxes
    if isinstance(head, SegmentationHead):

        def masks(raw: np.ndarray, spec: ImageSpec, sizes: list[tuple[int, int]]) -> list[Any]:
            h, w = raw.shape[2:]
            maps = np.stack([mask_map(spec, fw, fh, w, h) for fw, fh in sizes])
            return head.decode(raw, maps, labels, sizes)

        return masks
    raise PreprocessError(f"a {head.task} head does not run on images")


def _predict(model: Model, samples: Sequence[Any]) -> tuple[list[list[Any]], list[float]]:
    """Per frame, one result per head (the manifest's order), each timed; and the frame's
    (latency, preprocess, infer, postprocess) ms."""
    spec = model.spec
    if not isinstance(spec, ImageSpec) or len(model.inputs) != 1:
        raise PreprocessError(
            f"bundle {model.bundle.name!r}: {model.heads[0].task} heads run on single-input "
            "image models"
        )
    t0 = time.perf_counter()
    feeds = model.preprocess_batch(samples)
    t1 = time.perf_counter()
    results = model.backend.infer(feeds)
    t2 = time.perf_counter()
    sizes = [frame_size(s, spec) for s in samples]
    found, spent = [], []
    for head in model.heads:
        start = time.perf_counter()
        decode = decoder(head, head.labels_or(model.labels))
        found.append(decode(results[head.output or model.outputs[0].name], spec, sizes))
        spent.append(time.perf_counter() - start)
    t3 = time.perf_counter()
    per = 1000.0 / len(samples)
    rows = [
        [
            replace(
                found[k][i],
                latency_ms=(t3 - t0) * per,
                preprocess_ms=(t1 - t0) * per,
                infer_ms=(t2 - t1) * per,
                postprocess_ms=spent[k] * per,
                outputs={name: value[i] for name, value in results.items()},
            )
            for k in range(len(model.heads))
        ]
        for i in range(len(samples))
    ]
    return rows, [(t3 - t0) * per, (t1 - t0) * per, (t2 - t1) * per, (t3 - t2) * per]


def predict_detections(model: Model, samples: Sequence[Any]) -> list[Detections]:
    """Detections of N frames in one backend call, boxes in each frame's own pixels."""
    return [row[0] for row in _predict(model, samples)[0]]


def predict_masks(model: Model, samples: Sequence[Any]) -> list[Masks]:
    """Masks of N frames in one backend call, each at its frame's own size."""
    return [row[0] for row in _predict(model, samples)[0]]


def predict_heads(model: Model, samples: Sequence[Any]) -> list[HeadResults]:
    """Every head's result for N frames of a multi-task bundle, from one backend call."""
    rows, (latency, pre, infer, post) = _predict(model, samples)
    names = [h.name or f"head{k}" for k, h in enumerate(model.heads)]
    return [
        HeadResults(dict(zip(names, row, strict=True)), latency, pre, infer, post, row[0].outputs)
        for row in rows
    ]
