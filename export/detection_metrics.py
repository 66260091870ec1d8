"""Detection accuracy by the reference implementation: COCO mAP@0.5:0.95 and mAP@0.5 from
pycocotools' COCOeval (area ranges and 100 detections per image as COCO defines them), and box
parity between two detectors' outputs on the same images (matched IoU, score agreement)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmedge.errors import ExportError
from mmedge.track import iou_matrix


def coco_map(
    predictions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truth_boxes: Sequence[np.ndarray],
    truth_classes: Sequence[np.ndarray],
    num_classes: int,
) -> dict[str, float]:
    """{'map50_95', 'map50'} (0..1) of per-image predictions (xyxy (k, 4), scores (k,),
    classes (k,)) against the truth (xyxy boxes, classes), by pycocotools."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ExportError("detection accuracy needs pycocotools: pip install pycocotools") from exc
    images, annotations, results = [], [], []
    for i, (boxes, classes) in enumerate(zip(truth_boxes, truth_classes, strict=True)):
        images.append({"id": i})
        for b, c in zip(boxes, classes, strict=True):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i, "category_id": int(c),
                 "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
    for i, (boxes, scores, classes) in enumerate(predictions):
        for b, s, c in zip(boxes, scores, classes, strict=True):
            results.append(
                {"image_id": i, "category_id": int(c), "score": float(s),
                 "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            )  # fmt: skip
    if not results:
        return {"map50_95": 0.0, "map50": 0.0}
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c} for c in range(num_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map50_95": float(ev.stats[0]), "map50": float(ev.stats[1])}


@dataclass(frozen=True)
class BoxParity:
    """How a candidate's detections match the reference's on the same images: matched: share of
    reference boxes with a candidate box of the same class at IoU >= 0.5 (greedy by score);
    extra: share of the candidate's boxes without a reference box; mean_iou / min_iou of the
    matched pairs; mean / p99 / max_score_diff: of the matched pairs' |score difference| (the
    largest alone is often a pair NMS resolved differently)."""

    n_reference: int
    matched: float
    extra: float
    mean_iou: float
    min_iou: float
    mean_score_diff: float
    p99_score_diff: float
    max_score_diff: float

    def summary(self) -> str:
        return (
            f"boxes: {self.matched:.1%} of {self.n_reference} reference boxes matched (IoU >= "
            f"0.5, same class), {self.extra:.1%} extra, IoU mean {self.mean_iou:.4f} min "
            f"{self.min_iou:.4f}, score diff mean {self.mean_score_diff:.4f} p99 "
            f"{self.p99_score_diff:.4f} max {self.max_score_diff:.4f}"
        )


def box_parity(
    reference: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    candidate: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> BoxParity:
    """Per image (boxes, scores, classes) of both; see BoxParity."""
    n_ref, n_cand, n_extra, ious, diffs = 0, 0, 0, [], []
    for (rb, rs, rc), (cb, cs, cc) in zip(reference, candidate, strict=True):
        n_ref += len(rb)
        n_cand += len(cb)
        iou = (
            iou_matrix(np.asarray(rb), np.asarray(cb))
            if len(rb) and len(cb)
            else np.zeros((len(rb), len(cb)))
        )
        taken = np.zeros(len(cb), bool)
        for r in np.argsort(-np.asarray(rs), kind="stable"):
            ok = (~taken) & (cc == rc[r]) & (iou[r] >= 0.5) if len(cb) else np.zeros(0, bool)
            if ok.any():
                j = int(np.argmax(np.where(ok, iou[r], -1)))
                taken[j] = True
                ious.append(iou[r, j])
                diffs.append(abs(float(rs[r]) - float(cs[j])))
        n_extra += int((~taken).sum())
    return BoxParity(
        n_ref,
        len(ious) / n_ref if n_ref else 1.0,
        n_extra / n_cand if n_cand else 0.0,
        float(np.mean(ious)) if ious else 1.0,
        float(np.min(ious)) if ious else 1.0,
        float(np.mean(diffs)) if diffs else 0.0,
        float(np.percentile(diffs, 99)) if diffs else 0.0,
        float(np.max(diffs)) if diffs else 0.0,
    )
