"""Exporting a multi-task network: a small TinyMultiTask (seeded, briefly trained on 48 composited
frames) with a detection head and a segmentation head on one encoder, through export_bundle with
task='multi_task'. The manifest declares both heads (names, outputs, their own labels); each
output's parity is judged by its own head (boxes, pixel classes); the accuracy report holds each
head's figure (mAP, mIoU) and they are the figures of the bundle's own results through
mmedge.Model; int8 calibration reaches every head (each head's layers read calibrated
activations) and the int8 bound holds per head: one head dropping is enough to fail. Bad
requests are refused before any work, by name."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch

import mmedge
from mmedge.errors import ExportError
from mmedge.export import AccuracyGateError, ModelOutput, export_bundle
from mmedge.export.detection_metrics import coco_map
from mmedge.export.gate import ParityGate
from mmedge.export.multi_task_gate import worst_drop_score
from mmedge.export.recipes.digit_boxes import make_mask_split, make_multi_split
from mmedge.export.recipes.multi_task import HEADS, MULTI_SPEC, export_multitask, train_multitask
from mmedge.export.zoo_multitask import TinyMultiTask
from mmedge.tasks import DetectionHead, EventHead, SegmentationHead
from mmedge.tasks.head_results import HeadResults
from mmedge.tasks.metrics import confusion, mean_iou


@pytest.fixture(scope="module")
def data(data_dir: Path):
    return (
        make_multi_split("train", 48, seed=5, root=data_dir),
        make_multi_split("eval", 16, seed=5, root=data_dir),
    )


@pytest.fixture(scope="module")
def model(data) -> TinyMultiTask:
    trained, _ = train_multitask(data[0], epochs=2, batch_size=16, width=4, progress=False)
    return trained


@pytest.fixture(scope="module")
def exported(model, data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, evaluation = data
    out = tmp_path_factory.mktemp("multi") / "multi.mmb"
    return export_multitask(model, out, calibration=train, evaluation=evaluation,
                            precisions=("fp32", "int8"), fixture_bytes=200_000,
                            max_accuracy_drop=100.0, progress=False)  # fmt: skip


def test_the_manifest_declares_each_head_with_its_labels(exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["task"] == "multi_task"
    assert [(h["name"], h["task"], h["output"], len(h["labels"])) for h in manifest["heads"]] == [
        ("digits", "detection", "boxes", 10),
        ("strokes", "segmentation", "masks", 11),
    ]
    assert {o["name"]: o["kind"] for o in manifest["outputs"]} == {
        "boxes": "detection_head",
        "masks": "segmentation_logits",
    }
    for file in ("model.onnx", "model.int8.onnx"):
        outputs = manifest["reports"]["parity"][file]["outputs"]
        assert any(n.startswith("boxes: ") for n in outputs["boxes"]["notes"])
        assert any(n.startswith("pixel classes agree") for n in outputs["masks"]["notes"])


def test_the_reported_figures_are_the_bundles_own_results(exported: Path, data) -> None:
    _, evaluation = data
    report = json.loads((exported / "manifest.json").read_text())["reports"]["accuracy"]
    assert set(report["heads"]) == {"digits", "strokes"}
    with mmedge.Model(exported, artifact="model.onnx") as model:
        found = model.predict_batch(evaluation.samples)
    assert all(isinstance(r, HeadResults) and list(r) == ["digits", "strokes"] for r in found)
    boxes, masks = evaluation.truths["digits"], evaluation.truths["strokes"]
    detections = [(r["digits"].xyxy, r["digits"].scores, r["digits"].class_ids) for r in found]
    expected_map = coco_map(detections, boxes.boxes, boxes.classes, 10)["map50_95"]
    expected_miou = mean_iou(confusion([r["strokes"].mask for r in found], masks.masks, 11))
    assert report["heads"]["digits"]["artifacts"]["model.onnx"] == pytest.approx(expected_map)
    assert report["heads"]["strokes"]["artifacts"]["model.onnx"] == pytest.approx(expected_miou)
    assert report["heads"]["digits"]["fp32"] == report["heads"]["digits"]["artifacts"]["model.onnx"]


def _head_layers(graph: onnx.GraphProto, output: str) -> list[onnx.NodeProto]:
    """The Conv nodes nearest the output on every path back from it (the head's last layers)."""
    producer = {t: n for n in graph.node for t in n.output}
    found, stack, seen = [], [output], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node)
        else:
            stack.extend(node.input)
    return found


def test_int8_calibration_reaches_every_head(exported: Path) -> None:
    """In the int8 graph each head's last convolutions read a DequantizeLinear of a calibrated
    activation (and of int8 weights): calibration gave every head its scales."""
    graph = onnx.load(str(exported / "model.int8.onnx")).graph
    producer = {t: n for n in graph.node for t in n.output}
    for output in ("boxes", "masks"):
        convs = _head_layers(graph, output)
        assert convs, output
        for conv in convs:
            activation, weight = (producer.get(t) for t in conv.input[:2])
            assert activation is not None and activation.op_type == "DequantizeLinear", output
            assert weight is not None and weight.op_type == "DequantizeLinear", output
            quantize = producer[activation.input[0]]
            assert quantize.op_type == "QuantizeLinear"
            scale = next(i for i in graph.initializer if i.name == activation.input[1])
            assert float(onnx.numpy_helper.to_array(scale)) > 0


def test_one_head_below_the_bound_fails_the_int8_gate(
    model, data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detection head holds; the segmentation head loses 50 points in every int8 graph:
    the export fails and writes nothing."""
    train, evaluation = data
    measure = ParityGate.accuracy

    def strokes_fall_in_int8(self, path, labels):
        found = measure(self, path, labels)
        return {**found, "strokes": found["strokes"] - 0.5} if "int8" in Path(path).name else found

    monkeypatch.setattr(ParityGate, "accuracy", strokes_fall_in_int8)
    out = tmp_path / "m.mmb"
    with pytest.raises(AccuracyGateError, match="accuracy points below fp32"):
        export_multitask(model, out, calibration=train.subset(range(8)),
                         evaluation=evaluation.subset(range(4)), precisions=("fp32", "int8"),
                         fixture_bytes=100_000, max_accuracy_drop=3.0,
                         progress=False)  # fmt: skip
    assert not out.exists()


def test_the_int8_score_is_the_worst_heads_drop() -> None:
    assert worst_drop_score({"a": 0.5, "b": 0.8}, {"a": 0.49, "b": 0.7}) == pytest.approx(0.9)
    assert worst_drop_score({"a": 0.5, "b": 0.8}, {"a": 0.6, "b": 0.8}) == pytest.approx(1.0)


def test_bad_requests_are_refused_by_name(model, data, tmp_path: Path, data_dir: Path) -> None:
    _, evaluation = data
    common = {
        "example_input": torch.zeros(1, 3, MULTI_SPEC.height, MULTI_SPEC.width),
        "preprocess": MULTI_SPEC, "progress": False,
        "outputs": [ModelOutput("boxes", "detection_head"),
                    ModelOutput("masks", "segmentation_logits")],
    }  # fmt: skip
    box, mask = HEADS

    def export(name: str, **kwargs):
        return export_bundle(model, tmp_path / f"{name}.mmb", name=name, **{**common, **kwargs})

    with pytest.raises(ExportError, match="several heads need task='multi_task'"):
        export("a", task="detection", heads=list(HEADS))
    with pytest.raises(ExportError, match="needs its own name, got \\['digits', None\\]"):
        export("b", task="multi_task", heads=[box, SegmentationHead(output="masks")])
    with pytest.raises(ExportError, match="each head reads its own output"):
        export("c", task="multi_task", heads=[box, SegmentationHead(name="s", output="boxes")])
    with pytest.raises(ExportError, match="take detection and segmentation heads"):
        export("d", task="multi_task", heads=[box, EventHead(frame_s=0.01, name="e")])
    with pytest.raises(ExportError, match="evaluates on a MultiLabelled set"):
        export("e", task="multi_task", heads=list(HEADS),
               evaluation=make_mask_split("eval", 2, seed=1, root=data_dir))  # fmt: skip
    with pytest.raises(ExportError, match="no truth for heads \\['strokes'\\]"):
        export("f", task="multi_task", heads=list(HEADS),
               evaluation=type(evaluation)({"digits": evaluation.truths["digits"]}))  # fmt: skip
    with pytest.raises(ExportError, match="head 'digits' needs its labels"):
        export("g", task="multi_task", heads=[DetectionHead(name="digits", output="boxes"), mask])
    assert not list(tmp_path.iterdir())
