"""A detection modality fused with classifiers: the other modalities' class evidence re-scores
its boxes, and so its tracks.

At a fused time step, the classifier modalities that contributed (every chosen modality with
class probabilities over the detector's labels, detection modalities left out) are combined
log-linearly with their fusion weights into one posterior q over the K classes. Each box of
class c and score s then gets

    logit(s') = logit(s) + strength * log(K * q[c])

that is Bayes' rule in odds form, with q against a uniform prior (1 / K) as the likelihood
ratio of the class: evidence for c (q[c] > 1/K) raises that class's boxes, evidence against it
lowers them, and a classifier that knows nothing (uniform q) leaves every score as it was.
strength is the detection modality's `rescore` (Pipeline.add; 0 turns it off). Boxes, classes
and track ids do not change, only scores; FusedResult.rescored holds the result next to the
modality's own FusedResult.detections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mmedge.pipeline.results import ModalityResult
from mmedge.tasks.detections import Detections

if TYPE_CHECKING:
    from mmedge.pipeline.branches import Modality

_FLOOR = 1e-6  # q below this counts as this (log of 0 would erase a box for good)
_EDGE = 1e-7  # scores are kept inside (0, 1) before the logit


def class_evidence(
    chosen: Mapping[str, ModalityResult],
    modalities: Mapping[str, Modality],
    labels: list[str],
    weights: Mapping[str, float],
) -> np.ndarray | None:
    """The log-linear posterior over `labels` of the chosen classifier modalities whose model
    has exactly these labels (weights renormalised over them); None when there is none."""
    logs, w = [], []
    for name, r in chosen.items():
        model = modalities[name].model
        if r.detections is not None or r.probs is None or model is None:
            continue
        if list(model.labels) != list(labels):
            continue
        logs.append(np.log(np.clip(np.asarray(r.probs, np.float64), _FLOOR, 1.0)))
        w.append(max(float(weights.get(name, modalities[name].weight)), 0.0))
    if not logs:
        return None
    wn = np.asarray(w) / sum(w) if sum(w) > 0 else np.full(len(w), 1.0 / len(w))
    z = (wn[:, None] * np.stack(logs)).sum(axis=0)
    q = np.exp(z - z.max())
    return q / q.sum()


def rescore(found: Detections, evidence: np.ndarray, strength: float = 1.0) -> Detections:
    """The detections with scores moved by the class evidence (see the module docstring)."""
    if len(found) == 0 or strength == 0:
        return found
    k = len(evidence)
    q = np.clip(evidence[np.clip(found.class_ids, 0, k - 1)].astype(np.float64), _FLOOR, 1.0)
    s = np.clip(found.scores.astype(np.float64), _EDGE, 1 - _EDGE)
    logit = np.log(s / (1 - s)) + strength * np.log(k * q)
    return replace(found, scores=(1.0 / (1.0 + np.exp(-logit))).astype(np.float32))


def rescored_detections(
    chosen: Mapping[str, ModalityResult],
    modalities: Mapping[str, Modality],
    weights: Mapping[str, float],
) -> dict[str, Detections]:
    """Each chosen detection modality's boxes re-scored by the classifiers' evidence (only the
    modalities for which there is evidence and a non-zero strength)."""
    out = {}
    for name, r in chosen.items():
        m = modalities[name]
        if r.detections is None or m.model is None or m.rescore == 0:
            continue
        q = class_evidence(chosen, modalities, list(m.model.labels), weights)
        if q is not None:
            out[name] = rescore(r.detections, q, m.rescore)
    return out
