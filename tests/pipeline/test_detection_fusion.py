"""A detection modality fused with a classifier: the class evidence re-scores the boxes in odds
form (mmedge.pipeline.detection_fusion), checked against Bayes' rule written out in NumPy and
against late_fusion's log-linear rule. The real run with a spoken-digit model is in
tests/export/test_detection_audio_fusion.py (it trains that model)."""

from __future__ import annotations

import numpy as np

from mmedge.pipeline.detection_fusion import class_evidence, rescore
from mmedge.pipeline.fusion import late_fusion
from mmedge.pipeline.results import ModalityResult
from mmedge.tasks import Detections


def _detections(scores: list[float], classes: list[int]) -> Detections:
    n = len(scores)
    return Detections(
        xyxy=np.tile(np.array([[0, 0, 10, 10]], np.float32), (n, 1)),
        scores=np.array(scores, np.float32),
        class_ids=np.array(classes, np.int32),
        labels=tuple(str(c) for c in classes),
        frame_size=(64, 64),
    )


def test_rescore_is_bayes_rule_in_odds_form() -> None:
    rng = np.random.default_rng(0)
    found = _detections(list(rng.uniform(0.05, 0.95, 8)), list(rng.integers(0, 4, 8)))
    q = rng.dirichlet(np.ones(4))
    out = rescore(found, q)
    s, kq = found.scores.astype(np.float64), 4 * q[found.class_ids]
    expected = s * kq / (s * kq + (1 - s))  # posterior odds = prior odds x likelihood ratio
    np.testing.assert_allclose(out.scores, expected, rtol=1e-5)
    np.testing.assert_array_equal(out.class_ids, found.class_ids)
    np.testing.assert_array_equal(out.xyxy, found.xyxy)
    half = rescore(found, q, strength=0.5)  # strength tempers the likelihood ratio
    expected_half = s * np.sqrt(kq) / (s * np.sqrt(kq) + (1 - s))
    np.testing.assert_allclose(half.scores, expected_half, rtol=1e-5)
    np.testing.assert_allclose(rescore(found, np.full(4, 0.25)).scores, found.scores, rtol=1e-6)
    assert rescore(found, q, strength=0.0) is found
    empty = _detections([], [])
    assert len(rescore(empty, q)) == 0


def test_class_evidence_is_the_log_linear_fusion_of_the_classifiers() -> None:
    class _M:
        def __init__(self, labels: list[str]) -> None:
            self.labels, self.model, self.weight = labels, self, 1.0

    labels = ["a", "b", "c"]
    p1, p2 = np.array([0.7, 0.2, 0.1]), np.array([0.3, 0.3, 0.4])
    chosen = {
        "one": ModalityResult("one", 0, 1, probs=p1),
        "two": ModalityResult("two", 0, 1, probs=p2),
        "other_labels": ModalityResult("other_labels", 0, 1, probs=np.array([0.9, 0.1])),
        "cam": ModalityResult("cam", 0, 1, probs=p2, detections=_detections([0.5], [0])),
    }
    modalities = {
        "one": _M(labels), "two": _M(labels), "other_labels": _M(["x", "y"]), "cam": _M(labels)
    }  # fmt: skip
    weights = {"one": 3.0, "two": 1.0}
    q = class_evidence(chosen, modalities, labels, weights)  # type: ignore[arg-type]
    fused, _ = late_fusion({"one": p1, "two": p2}, weights, "log_linear")
    np.testing.assert_allclose(q, fused, rtol=1e-5)
    only_cam = {"cam": chosen["cam"]}
    assert class_evidence(only_cam, modalities, labels, weights) is None  # type: ignore[arg-type]
