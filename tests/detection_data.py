"""A NumPy reference of detection post-processing, written from the definitions the kernel
follows: Ultralytics' non_max_suppression decode (best class by torch.max, score > threshold,
top max_nms by score) and torchvision.ops.batched_nms (greedy by score; suppressed when IoU >
threshold with a kept box of the same class), then the first max_det. Float32 box arithmetic as
the kernel does it, so kept sets compare exactly; and a realistic head generator."""

from __future__ import annotations

import numpy as np

F = np.float32


def iou32(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes in float32, in the kernel's order of operations."""
    w = F(min(a[2], b[2]) - max(a[0], b[0]))
    h = F(min(a[3], b[3]) - max(a[1], b[1]))
    if w <= 0 or h <= 0:
        return 0.0
    inter = F(w * h)
    area_a = F(F(a[2] - a[0]) * F(a[3] - a[1]))
    area_b = F(F(b[2] - b[0]) * F(b[3] - b[1]))
    union = F(F(area_a + area_b) - inter)
    return float(F(inter / union)) if union > 0 else 0.0


def candidates(head: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes xyxy, scores, classes) above the threshold of one image's head, candidate order."""
    x = head.T if opts.get("channels_first", True) and opts.get("kind") != "end2end" else head
    x = x.astype(F)
    finite = np.isfinite(x).all(axis=1)
    if opts.get("kind") == "end2end":
        boxes, scores, classes = x[:, :4], x[:, 4], x[:, 5].astype(np.int32)
    else:
        if opts.get("box_format", "cxcywh") == "cxcywh":
            cx, cy, w, h = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
            boxes = np.stack(
                [cx - w * F(0.5), cy - h * F(0.5), cx + w * F(0.5), cy + h * F(0.5)], 1
            )
        else:
            boxes = x[:, :4]
        first = 5 if opts.get("objectness") else 4
        cls = x[:, first:]
        obj = x[:, 4] if opts.get("objectness") else np.ones(len(x), F)
        if opts.get("multi_label"):
            rows, cols = np.nonzero(
                (cls * obj[:, None] > opts["score_threshold"]) & finite[:, None]
            )
            return boxes[rows], (cls * obj[:, None])[rows, cols], cols.astype(np.int32)
        classes = np.argmax(np.where(np.isnan(cls), -np.inf, cls), axis=1).astype(np.int32)
        scores = cls[np.arange(len(x)), classes] * obj
    keep = finite & (scores > opts["score_threshold"])
    return boxes[keep], scores[keep].astype(F), classes[keep]


def detect(head: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kept (boxes, scores, classes) of one image, by score descending, in network px."""
    boxes, scores, classes = candidates(head, opts)
    order = np.argsort(-scores, kind="stable")[: opts.get("max_nms_candidates", 30000)]
    kept: list[int] = []
    if opts.get("kind") == "end2end":
        kept = list(order)
    else:
        for i in order:
            if all(
                not (opts.get("class_agnostic") or classes[k] == classes[i])
                or iou32(boxes[k], boxes[i]) <= opts["iou_threshold"]
                for k in kept
            ):
                kept.append(int(i))
    kept = kept[: opts.get("max_detections", 300)]
    return boxes[kept], scores[kept], classes[kept]


def realistic_head(
    rng: np.random.Generator, n: int = 8400, classes: int = 80, objects: int = 30, size: int = 640
) -> np.ndarray:
    """A (4 + classes, n) YOLOv8-style head: background candidates with low sigmoid scores and,
    per object, a cluster of jittered boxes scoring high for its class (NMS has work to do)."""
    cx = rng.uniform(0, size, n)
    cy = rng.uniform(0, size, n)
    w = rng.uniform(4, size / 4, n)
    h = rng.uniform(4, size / 4, n)
    scores = rng.beta(0.5, 30, (classes, n))  # mostly near 0, a tail up to ~0.3
    per = n // (objects * 4)
    for _ in range(objects):
        idx = rng.choice(n, per, replace=False)
        c = rng.integers(classes)
        ox, oy = rng.uniform(40, size - 40, 2)
        ow, oh = rng.uniform(20, size / 3, 2)
        cx[idx] = ox + rng.normal(0, 3, per)
        cy[idx] = oy + rng.normal(0, 3, per)
        w[idx] = ow * rng.uniform(0.85, 1.15, per)
        h[idx] = oh * rng.uniform(0.85, 1.15, per)
        scores[c, idx] = rng.uniform(0.3, 0.95, per)
    return np.vstack([cx, cy, w, h, scores]).astype(F)
