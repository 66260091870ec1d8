"""Detection post-processing (mmedge._C.detect through DetectionHead): against a NumPy reference
of Ultralytics' decode + torchvision's batched_nms definition and against OpenCV's
NMSBoxesBatched; every head layout and option; bad values; Detections round trips."""

from __future__ import annotations

import numpy as np
import pytest
from detection_data import detect as reference_detect
from detection_data import realistic_head

from mmedge import PostprocessError
from mmedge.tasks import DetectionHead, Detections

LABELS = tuple(f"c{i}" for i in range(80))
IDENTITY = np.array([[1, 0, 1, 0, 1e9, 1e9]], np.float32)  # network px, clipped at 0 only


def ours(head: np.ndarray, h: DetectionHead, labels=LABELS, maps=IDENTITY) -> Detections:
    return h.decode(head[None], maps, labels, [(640, 640)])[0]


def assert_same(d: Detections, expected: tuple) -> None:
    boxes, scores, classes = expected
    assert len(d) == len(scores)
    np.testing.assert_array_equal(d.class_ids, classes)
    np.testing.assert_array_equal(d.scores, scores)
    np.testing.assert_allclose(d.xyxy, np.maximum(boxes, 0), rtol=0, atol=1e-4)  # clipped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_reference_and_opencv(seed: int) -> None:
    """8,400 candidates x 80 classes as YOLOv8 exports them: the kept boxes, scores and classes
    equal the reference's, and the same candidates as cv2.dnn.NMSBoxesBatched keeps."""
    cv2 = pytest.importorskip("cv2")
    head = realistic_head(np.random.default_rng(seed))
    h = DetectionHead(score_threshold=0.25, iou_threshold=0.45)
    d = ours(head, h)
    assert 10 <= len(d) < 300
    assert_same(d, reference_detect(head, h.kernel_options(80)))
    x = head.T
    cls = x[:, 4:]
    best, ids = cls.max(1), cls.argmax(1)
    xywh = np.stack([x[:, 0] - x[:, 2] / 2, x[:, 1] - x[:, 3] / 2, x[:, 2], x[:, 3]], 1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), best.tolist(), ids.tolist(), 0.25, 0.45)
    theirs = np.asarray(keep).reshape(-1)
    assert sorted(np.round(best[theirs], 6)) == sorted(np.round(d.scores, 6))


@pytest.mark.parametrize(
    "options",
    [
        {"layout": "candidates_first"},
        {"objectness": True, "layout": "candidates_first"},
        {"box_format": "xyxy"},
        {"class_agnostic": True},
        {"multi_label": True},
        {"max_detections": 7},
        {"max_nms_candidates": 50},
        {"iou_threshold": 0.0},
        {"score_threshold": 0.0, "max_detections": 1000},
    ],
)
def test_layouts_and_options(options: dict) -> None:
    """Each option of the head against the reference: candidates-first (YOLOv5) layouts, an
    objectness score, xyxy boxes, class-agnostic NMS, multi-label, top-k limits, extremes."""
    rng = np.random.default_rng(len(str(options)))
    head = realistic_head(rng, n=2100, classes=12, objects=8)
    if options.get("objectness"):
        head = np.insert(head, 4, rng.uniform(0.2, 1.0, head.shape[1]).astype(np.float32), 0)
    if options.get("box_format") == "xyxy":
        head[2:4] += head[0:2]
    if options.get("layout") == "candidates_first":
        head = np.ascontiguousarray(head.T)
    h = DetectionHead(**options)
    labels = LABELS[:12]
    assert_same(ours(head, h, labels), reference_detect(head, h.kernel_options(12)))


def test_end2end_head() -> None:
    """NMS in the graph (YOLOv10 / NMS-exported models): rows x1, y1, x2, y2, score, class are
    only thresholded, ranked and mapped."""
    rng = np.random.default_rng(4)
    rows = np.zeros((300, 6), np.float32)
    rows[:, :2] = rng.uniform(0, 500, (300, 2))
    rows[:, 2:4] = rows[:, :2] + rng.uniform(5, 100, (300, 2))
    rows[:, 4] = rng.uniform(0, 1, 300)
    rows[:, 5] = rng.integers(0, 80, 300)
    h = DetectionHead(kind="end2end", layout="candidates_first", box_format="xyxy", nms="graph")
    assert_same(ours(rows, h), reference_detect(rows, h.kernel_options(80)))


def test_nonfinite_values_are_never_boxes_and_are_counted() -> None:
    head = realistic_head(np.random.default_rng(5), n=840, classes=80, objects=4)
    clean = ours(head, DetectionHead())
    bad = head.copy()
    bad[0, 3] = np.nan  # a box value
    bad[10, 7] = np.inf  # a class score
    bad[50, 9] = -np.inf
    d = ours(bad, DetectionHead())
    assert d.nonfinite == 3 and clean.nonfinite == 0
    assert np.isfinite(d.xyxy).all() and np.isfinite(d.scores).all()
    assert len(d) <= len(clean)


def test_zero_detections_have_the_right_shapes() -> None:
    head = np.zeros((84, 8400), np.float32)
    d = ours(head, DetectionHead())
    assert len(d) == 0 and d.xyxy.shape == (0, 4) and d.xyxy.dtype == np.float32
    assert d.scores.dtype == np.float32 and d.class_ids.dtype == np.int32 and d.labels == ()


def test_boxes_map_to_the_frame_and_are_clipped() -> None:
    """The kernel's map (scale, offset per axis) and the clip to the frame."""
    head = np.zeros((5, 3), np.float32)  # one class, three candidates
    head[:, 0] = (100, 100, 40, 40, 0.9)  # inside
    head[:, 1] = (630, 320, 40, 40, 0.8)  # crosses the right edge
    head[:, 2] = (320, 2, 30, 30, 0.7)  # crosses the top edge
    maps = np.array([[2.0, -10.0, 2.0, -280.0, 1280, 720]], np.float32)
    d = DetectionHead().decode(head[None], maps, ("a",), [(1280, 720)])[0]
    np.testing.assert_allclose(
        d.xyxy, [[150, 0, 230, 0], [1210, 320, 1280, 400], [600, 0, 660, 0]], atol=1e-4
    )


def test_a_head_that_does_not_fit_is_refused() -> None:
    h = DetectionHead()
    with pytest.raises(PostprocessError, match=r"has 85 values per candidate.*needs 84"):
        h.check_output(["batch", 85, 8400], 80, "bundle")
    with pytest.raises(PostprocessError, match="needs 84"):
        ours(np.zeros((85, 100), np.float32), h)
    with pytest.raises(PostprocessError, match="iou_threshold"):
        DetectionHead(iou_threshold=1.5)
    with pytest.raises(PostprocessError, match="nms='graph'"):
        DetectionHead(kind="end2end")
    with pytest.raises(PostprocessError, match="does not know the keys"):
        DetectionHead.from_dict({"kind": "anchor_free", "iou": 0.5})


def test_detections_round_trip_through_json_and_numpy() -> None:
    d = ours(realistic_head(np.random.default_rng(6)), DetectionHead())
    d = d.with_tracks(np.arange(len(d)) + 100)
    for back in (Detections.from_json(d.to_json()), Detections.from_arrays(d.to_arrays())):
        np.testing.assert_array_equal(back.xyxy, d.xyxy)
        np.testing.assert_array_equal(back.scores, d.scores)
        np.testing.assert_array_equal(back.class_ids, d.class_ids)
        np.testing.assert_array_equal(back.track_ids, d.track_ids)
        assert back.labels == d.labels and back.frame_size == d.frame_size
    assert len(d.select(d.scores > 0.5)) == int((d.scores > 0.5).sum())
