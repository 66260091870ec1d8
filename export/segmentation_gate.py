"""The gates of a segmentation head: mask parity against PyTorch (the class of every logit pixel,
both outputs' first argmax: agreement per precision) and accuracy as mean IoU at each frame's
own resolution (masks by the bundle's own SegmentationHead and mmedge._C.segment, against the
truth masks), on the staged evaluation tensors (the int8 stage's bound) and through
mmedge.Model on the frames (the bundle's accuracy report).

mIoU: mmedge.tasks.metrics (one confusion matrix over every pixel of the set)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.export.data import MaskLabelled
from mmedge.preprocess.image import frame_size
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.runtime.model import Model
from mmedge.tasks import SegmentationHead, mask_map
from mmedge.tasks.metrics import confusion, iou_per_class, mean_iou

# Least share of logit pixels whose class agrees with PyTorch's: fp32 is rounding noise; fp16
# moves near-ties; int8 moves class boundaries by about a logit pixel (the accuracy bound in
# mIoU points is the int8 gate that matters; this one catches a broken graph).
MIN_AGREEMENT = {"fp32": 0.999, "fp16": 0.995, "int8": 0.90}


class SegmentationChecks:
    """The head of a segmentation export and the checks built on it."""

    def __init__(self, head: SegmentationHead, labels: Sequence[str], spec: ImageSpec) -> None:
        self.head, self.labels, self.spec = replace(head, confidence=False), list(labels), spec

    def parity(
        self, output: str, reference: np.ndarray, candidate: np.ndarray, precision: str
    ) -> ParityReport:
        """The raw tensors' numbers (compare()), passed or failed by the logit pixels' classes."""
        report = compare(
            reference, candidate, output=output, tolerance=ParityTolerance.for_precision(precision)
        )
        agree = float((reference.argmax(1) == candidate.argmax(1)).mean())
        least = MIN_AGREEMENT[precision]
        return replace(
            report,
            passed=agree >= least,
            notes=[
                *report.notes,
                f"pixel classes agree {agree:.4%} (mask gate {precision}: >= {least:.1%})",
            ],
        )

    def masks(self, raw: np.ndarray, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class masks at each frame's size from (N, C, h, w) logits of those frames."""
        sizes = [frame_size(f, self.spec) for f in frames]
        maps = np.stack([mask_map(self.spec, w, h, raw.shape[3], raw.shape[2]) for w, h in sizes])
        return [m.mask for m in self.head.decode(raw, maps, self.labels, sizes)]

    def accuracy(self, raw: np.ndarray, truth: MaskLabelled) -> float:
        """mIoU of head outputs on the staged evaluation inputs, at the frames' resolution."""
        found = self.masks(raw, truth.samples)
        return mean_iou(confusion(found, truth.masks, len(self.labels)))


def model_miou(bundle: Path, file: str, data: MaskLabelled, batch: int = 32) -> dict[str, object]:
    """mIoU and per-class IoU of one artifact through mmedge.Model (kernels, ONNX Runtime CPU,
    masks at each frame's size) against the truth masks."""
    found: list[np.ndarray] = []
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        for s in range(0, len(data), batch):
            found += [m.mask for m in model.predict_batch(data.samples[s : s + batch])]
    matrix = confusion(found, data.masks, len(data.label_names))
    per_class = iou_per_class(matrix)
    return {
        "miou": float(np.nanmean(per_class)),
        "per_class": {
            name: None if np.isnan(v) else float(v)
            for name, v in zip(data.label_names, per_class, strict=True)
        },
    }
