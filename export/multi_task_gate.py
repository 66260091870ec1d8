"""The gates of a multi-task export (several heads on one network): each head is checked by its
own task's checks on its own output with its own labels (box parity and mAP for a detection
head, pixel-class parity and mIoU for a segmentation head), and int8 is bounded per head: every
head within max_accuracy_drop points of its fp32 figure.

The int8 stage bounds one number; for several heads that number is 1 - the largest drop of any
head (worst_drop_score), so "within the bound" means every head is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.bundle.parity import ParityReport
from mmedge.errors import ExportError
from mmedge.export.data import MultiLabelled
from mmedge.export.detection_gate import DetectionChecks
from mmedge.export.detection_metrics import coco_map
from mmedge.export.segmentation_gate import SegmentationChecks
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.runtime.model import Model
from mmedge.tasks import DetectionHead, SegmentationHead
from mmedge.tasks.metrics import confusion, iou_per_class

Checks = DetectionChecks | SegmentationChecks
METRICS = {"detection": "mAP@0.5:0.95 (pycocotools)", "segmentation": "mIoU"}


class MultiChecks:
    """The checks of every head, by the output it reads."""

    def __init__(
        self,
        heads: Sequence[DetectionHead | SegmentationHead],
        labels: Sequence[str] | None,
        spec: ImageSpec,
    ) -> None:
        self.heads = list(heads)
        self.by_output: dict[str, Checks] = {}
        for head in self.heads:
            own = head.labels_or(labels or [])
            if not own:
                raise ExportError(f"head {head.name!r} needs its labels (labels= on the head)")
            checks: Checks = (
                DetectionChecks(head, own, spec)
                if isinstance(head, DetectionHead)
                else SegmentationChecks(head, own, spec)
            )
            self.by_output[str(head.output)] = checks

    @property
    def has_detection(self) -> bool:
        return any(isinstance(h, DetectionHead) for h in self.heads)

    def parity(
        self, output: str, reference: np.ndarray, candidate: np.ndarray, precision: str
    ) -> ParityReport:
        """The parity of one head's output, judged by that head's checks."""
        return self.by_output[output].parity(output, reference, candidate, precision)

    def accuracy(self, outputs: Mapping[str, np.ndarray], truth: MultiLabelled) -> dict[str, float]:
        """Each head's staged figure (mAP in network px, mIoU at the frames' size) by name."""
        return {
            str(h.name): self.by_output[str(h.output)].accuracy(
                outputs[str(h.output)],
                truth.truths[str(h.name)],  # type: ignore[arg-type]
            )
            for h in self.heads
        }


def check_truths(heads: Sequence[DetectionHead | SegmentationHead], data: Any) -> None:
    """The evaluation set holds a truth for every head, of that head's kind."""
    if not isinstance(data, MultiLabelled):
        raise ExportError(
            "a multi-task export evaluates on a MultiLabelled set (one truth per head), got "
            f"{type(data).__name__}"
        )
    missing = [h.name for h in heads if h.name not in data.truths]
    if missing:
        raise ExportError(f"the evaluation set has no truth for heads {missing}")


def worst_drop_score(baseline: Mapping[str, float], found: Mapping[str, float]) -> float:
    """1 - the largest drop (fraction) of any head from its baseline: the number the int8 stage
    keeps within max_accuracy_drop points of 1.0."""
    return 1.0 - max(baseline[name] - found[name] for name in baseline)


def model_head_scores(
    bundle: Path, file: str, data: MultiLabelled, batch: int = 32
) -> dict[str, dict[str, Any]]:
    """Each head's figure for one artifact through mmedge.Model (one prediction per frame for
    all heads): detection COCO mAP@0.5:0.95 and @0.5 in frame px, segmentation mIoU and
    per-class IoU at the frames' size."""
    found: dict[str, list[Any]] = {}
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        heads = {str(h.name): h for h in model.heads}
        for s in range(0, len(data), batch):
            for result in model.predict_batch(data.samples[s : s + batch]):
                for name, r in result.items():
                    found.setdefault(name, []).append(r)
    scores: dict[str, dict[str, Any]] = {}
    for name, results in found.items():
        truth = data.truths[name]
        if isinstance(heads[name], DetectionHead):
            m = coco_map(
                [(d.xyxy, d.scores, d.class_ids) for d in results],
                truth.boxes,  # type: ignore[union-attr]
                truth.classes,  # type: ignore[union-attr]
                len(truth.label_names),
            )
            scores[name] = {"value": m["map50_95"], "map50": m["map50"]}
        else:
            per = iou_per_class(
                confusion([m.mask for m in results], truth.masks, len(truth.label_names))  # type: ignore[union-attr]
            )
            scores[name] = {
                "value": float(np.nanmean(per)),
                "per_class_iou": {
                    c: None if np.isnan(v) else float(v)
                    for c, v in zip(truth.label_names, per, strict=True)
                },
            }
    return scores
