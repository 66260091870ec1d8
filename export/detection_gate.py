"""The gates of a detection head: box parity against PyTorch (both outputs decoded by the bundle's
own DetectionHead in network pixels, then matched: BoxGate per precision) and accuracy as COCO
mAP@0.5:0.95 by pycocotools, on the staged evaluation tensors (the int8 stage's bound) and
through mmedge.Model on the frames (the bundle's accuracy report, boxes in frame pixels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.export.data import BoxLabelled
from mmedge.export.detection_metrics import BoxParity, box_parity, coco_map
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.runtime.model import Model
from mmedge.tasks import DetectionHead, to_network

Found = list[tuple[np.ndarray, np.ndarray, np.ndarray]]
# Boxes whose parity is judged score at least this (or the head's threshold when higher): the
# ones a deployment acts on; below it, rounding moves boxes across the threshold.
CONFIDENT = 0.25


@dataclass(frozen=True)
class BoxGate:
    """Least share of reference boxes matched (and of the candidate's boxes), least mean IoU of
    the matches, largest mean score difference of the matches; a confident box is looked for
    down to `slack` below the confidence threshold on the other side."""

    min_matched: float
    min_mean_iou: float
    max_score_diff: float
    slack: float

    @classmethod
    def for_precision(cls, precision: str) -> BoxGate:
        # fp32: rounding noise moves nothing; fp16: 11-bit scores and coordinates; int8: the
        # quantised layers move boxes by a few px and confident scores by up to ~0.25 (measured
        # on the zoo detector: 96% matched, mean IoU 0.90, score p99 0.24). The int8 gate that
        # matters is the accuracy bound (mAP points); this one catches a broken graph (e.g. one
        # int8 scale for pixel boxes and 0..1 scores: under half the boxes survive).
        return {
            "fp32": cls(0.995, 0.995, 1e-4, 1e-3),
            "fp16": cls(0.97, 0.98, 0.005, 0.02),
            "int8": cls(0.90, 0.85, 0.08, 0.15),
        }[precision]

    def passes(self, p: BoxParity) -> bool:
        return (
            p.matched >= self.min_matched
            and p.extra <= 1.0 - self.min_matched
            and p.mean_iou >= self.min_mean_iou
            and p.mean_score_diff <= self.max_score_diff
        )


class DetectionChecks:
    """The head of a detection export and the checks built on it."""

    def __init__(self, head: DetectionHead, labels: Sequence[str], spec: ImageSpec) -> None:
        self.head, self.labels, self.spec = head, list(labels), spec

    def decode(self, raw: np.ndarray, score_threshold: float | None = None) -> Found:
        """Per image (boxes, scores, classes) in network pixels (at the head's threshold, or
        at `score_threshold`)."""
        head = self.head
        if score_threshold is not None:
            head = replace(head, score_threshold=float(np.clip(score_threshold, 0.0, 0.999)))
        maps = np.tile(np.array([[1, 0, 1, 0, 1e9, 1e9]], np.float32), (len(raw), 1))
        found = head.decode(raw, maps, self.labels, [(0, 0)] * len(raw))
        return [(d.xyxy, d.scores, d.class_ids) for d in found]

    def box_parity(self, reference: np.ndarray, candidate: np.ndarray, tol: float) -> BoxParity:
        """The confident boxes (score >= CONFIDENT, or the head's threshold if higher) of each
        side looked up among the other side's boxes down to `tol` below that: a score that
        moves by less than the gate's tolerance across the threshold is not a lost box."""
        confident = max(self.head.score_threshold, CONFIDENT)
        forward = box_parity(
            self.decode(reference, confident), self.decode(candidate, confident - tol)
        )
        backward = box_parity(
            self.decode(candidate, confident), self.decode(reference, confident - tol)
        )
        return replace(forward, extra=1.0 - backward.matched)

    def parity(
        self, output: str, reference: np.ndarray, candidate: np.ndarray, precision: str
    ) -> ParityReport:
        """The raw tensors' numbers (compare()), passed or failed by the boxes (BoxGate)."""
        report = compare(
            reference, candidate, output=output, tolerance=ParityTolerance.for_precision(precision)
        )
        gate = BoxGate.for_precision(precision)
        boxes = self.box_parity(reference, candidate, gate.slack)
        return replace(
            report,
            passed=gate.passes(boxes),
            notes=[
                *report.notes,
                boxes.summary(),
                f"box gate ({precision}): matched >= {gate.min_matched:.1%}, mean IoU >= "
                f"{gate.min_mean_iou}, mean score diff <= {gate.max_score_diff} (looked for "
                f"{gate.slack} below the threshold)",
            ],
        )

    def network_map(self, raw: np.ndarray, truth: BoxLabelled) -> float:
        """mAP@0.5:0.95 of head outputs on staged inputs, the truth mapped into network px."""
        boxes = [
            to_network(b, self.spec, s.shape[1], s.shape[0])
            for b, s in zip(truth.boxes, truth.samples, strict=True)
        ]
        return coco_map(self.decode(raw), boxes, truth.classes, len(self.labels))["map50_95"]

    def accuracy(self, raw: np.ndarray, truth: BoxLabelled) -> float:
        """The staged accuracy the int8 stage bounds: network_map()."""
        return self.network_map(raw, truth)


def model_map(bundle: Path, file: str, data: BoxLabelled, batch: int = 64) -> dict[str, float]:
    """COCO mAP of one artifact through mmedge.Model (kernels, ONNX Runtime CPU, decode, NMS,
    boxes mapped back to each frame), against the truth in frame pixels."""
    found: Found = []
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        for s in range(0, len(data), batch):
            for d in model.predict_batch(data.samples[s : s + batch]):
                found.append((d.xyxy, d.scores, d.class_ids))
    return coco_map(found, data.boxes, data.classes, len(data.label_names))
