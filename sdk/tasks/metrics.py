"""Segmentation accuracy: mean IoU from one confusion matrix over every pixel of a set (truth
255 ignored; a predicted 255, no class, counts as a miss of the truth's class). IoU_c =
TP / (TP + FP + FN) for every class with TP + FP + FN > 0, averaged: the definition of
torchmetrics' JaccardIndex (average='macro'), mmsegmentation's IoUMetric and scikit-learn's
jaccard_score(average='macro') over the classes present."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(
    predicted: Sequence[np.ndarray], truth: Sequence[np.ndarray], classes: int
) -> np.ndarray:
    """(classes, classes + 1) int64 pixel counts [truth, predicted]; the last column: pixels
    predicted as no class (255). Truth pixels of 255 are left out."""
    out = np.zeros((classes, classes + 1), np.int64)
    for p, t in zip(predicted, truth, strict=True):
        if p.shape != t.shape:
            raise ValueError(f"a predicted mask is {p.shape}, its truth {t.shape}")
        keep = t.reshape(-1) < classes
        tt = t.reshape(-1)[keep].astype(np.int64)
        pp = np.minimum(p.reshape(-1)[keep].astype(np.int64), classes)
        out += np.bincount(tt * (classes + 1) + pp, minlength=classes * (classes + 1)).reshape(
            classes, classes + 1
        )
    return out


def iou_per_class(matrix: np.ndarray) -> np.ndarray:
    """(classes,) IoU; NaN for a class neither in the truth nor predicted."""
    classes = matrix.shape[0]
    tp = np.diag(matrix[:, :classes]).astype(np.float64)
    fn = matrix.sum(1) - tp
    fp = matrix[:, :classes].sum(0) - tp
    union = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(matrix: np.ndarray) -> float:
    return float(np.nanmean(iou_per_class(matrix)))
