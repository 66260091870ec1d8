"""A detection bundle end to end: the manifest's head is checked against the model's outputs when
the bundle loads, and Model.predict returns Detections in the frame's own pixels. The model is
a small ONNX graph built here whose head is a fixed tensor (the post-processing is what is
tested; the zoo detector exercises real weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from detection_data import detect as reference_detect

from mmedge import BundleError, Model
from mmedge.bundle import write_bundle
from mmedge.preprocess import ImageSpec
from mmedge.tasks import DetectionHead, Detections, to_source

onnx = pytest.importorskip("onnx")
helper = onnx.helper

LABELS = ["cat", "dog", "bird"]
SPEC = ImageSpec(320, 192, letterbox="ultralytics", pad_value=114)


def fixed_head(rng: np.random.Generator, n: int = 40) -> np.ndarray:
    """(7, n): boxes (cx, cy, w, h) inside the 320x192 input, three class scores."""
    head = np.zeros((7, n), np.float32)
    head[0] = rng.uniform(20, 300, n)
    head[1] = rng.uniform(20, 172, n)
    head[2:4] = rng.uniform(8, 60, (2, n))
    head[4:] = rng.uniform(0, 1, (3, n)) ** 3
    return head


def detector_onnx(head: np.ndarray) -> bytes:
    """image (batch, 3, 192, 320) -> head (batch, 7, n): the fixed head plus 0 x the image's
    mean (so the output depends on the input's batch)."""
    n = head.shape[1]
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "fixed"], ["head"]),
    ]
    inits = [
        onnx.numpy_helper.from_array(head[None], "fixed"),
        onnx.numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        onnx.numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
        onnx.numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_detector",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["batch", 3, 192, 320])],
        [helper.make_tensor_value_info("head", onnx.TensorProto.FLOAT, ["batch", 7, n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_detector(path: Path, head: np.ndarray, values: int = 7, **head_options) -> Path:
    n = head.shape[1]
    manifest = {
        "schema_version": 1,
        "name": "fixed_detector",
        "modality": "image",
        "task": "detection",
        "labels": LABELS,
        "preprocess": {"image": SPEC.to_dict()},
        "provenance": {
            "exporter": "external", "versions": {}, "created_utc": "2026-11-30T00:00:00Z"
        },
        "inputs": [
            {"name": "image", "shape": ["batch", 3, 192, 320], "dtype": "float32", "layout": "NCHW"}
        ],
        "outputs": [
            {"name": "head", "shape": ["batch", values, n], "dtype": "float32",
             "kind": "detection_head"}
        ],
        "heads": [{"task": "detection", "output": "head", **head_options}],
        "artifacts": [{"file": "model.onnx", "format": "onnx", "precision": "fp32", "opset": 18}],
        "reports": {},
    }  # fmt: skip
    return write_bundle(path, manifest, {"model.onnx": detector_onnx(head)})


def test_predict_returns_detections_in_frame_pixels(tmp_path: Path, video_frames) -> None:
    """A 768x576 frame letterboxed to 320x192: the boxes are the reference's decode + NMS of
    the head, mapped back through the letterbox, labelled, clipped, timed."""
    pytest.importorskip("onnxruntime")
    head = fixed_head(np.random.default_rng(0))
    bundle = write_detector(tmp_path / "det.mmb", head, iou_threshold=0.5)
    frame = video_frames[0]
    with Model(bundle, backend="ort") as model:
        assert model.describe()["heads"][0]["iou_threshold"] == 0.5
        d = model.predict(frame)
        batch = model.predict_batch([frame, frame[:300, :500].copy()])
    assert isinstance(d, Detections) and d.frame_size == (768, 576)
    options = DetectionHead(iou_threshold=0.5).kernel_options(3)
    boxes, scores, classes = reference_detect(head, options)
    assert len(d) == len(scores) > 0
    np.testing.assert_array_equal(d.scores, scores)
    np.testing.assert_array_equal(d.class_ids, classes)
    assert d.labels == tuple(LABELS[c] for c in classes)
    np.testing.assert_allclose(d.xyxy, to_source(boxes, SPEC, 768, 576), rtol=0, atol=1e-3)
    assert d.latency_ms >= d.infer_ms > 0 and d.postprocess_ms > 0
    np.testing.assert_array_equal(batch[0].xyxy, d.xyxy)
    assert batch[1].frame_size == (500, 300)
    assert (batch[1].xyxy[:, [0, 2]] <= 500).all() and (batch[1].xyxy[:, [1, 3]] <= 300).all()


def test_a_head_that_does_not_fit_the_outputs_is_refused_at_load(tmp_path: Path) -> None:
    """Declared with objectness, the head needs 8 values per candidate; the model gives 7."""
    head = fixed_head(np.random.default_rng(1))
    with pytest.raises(BundleError, match=r"has 7 values per candidate.*needs 8"):
        write_detector(tmp_path / "bad.mmb", head, objectness=True)
    with pytest.raises(BundleError, match="reads output 'boxes'"):
        write_detector(tmp_path / "bad2.mmb", head, output="boxes")
    with pytest.raises(BundleError, match="does not know the keys"):
        write_detector(tmp_path / "bad3.mmb", head, nms_iou=0.5)
