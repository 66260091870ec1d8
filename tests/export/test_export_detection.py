"""Exporting a detector: the zoo detector briefly trained on the composited-digits set, exported
at fp32, fp16 and int8 behind the box-parity gates and the mAP gate (pycocotools); the manifest
declares the head; the int8 graph keeps the decode in float, without which one int8 scale would
hold both pixel boxes and 0..1 scores and the detector would lose most of its accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("pycocotools")

from mmedge import Model  # noqa: E402
from mmedge.errors import ExportError  # noqa: E402
from mmedge.export import export_bundle  # noqa: E402
from mmedge.export.detection_gate import DetectionChecks  # noqa: E402
from mmedge.export.quantize import Int8Quantizer  # noqa: E402
from mmedge.export.recipes.detection import (  # noqa: E402
    DETECTOR_HEAD,
    DETECTOR_SPEC,
    export_detector,
    network_inputs,
)
from mmedge.export.recipes.digit_boxes import make_split  # noqa: E402
from mmedge.tasks import Detections  # noqa: E402
from mmedge.track import iou_matrix  # noqa: E402


@pytest.fixture(scope="module")
def trained(small_detector):
    """conftest's briefly trained detector (weak, mAP ~0.03, but the gates and the plumbing run
    as for the shipped one; tests/export/test_digit_detector.py checks how good that is)."""
    return small_detector


def test_detector_exports_with_box_parity_and_map_gates(trained, tmp_path: Path) -> None:
    model, calibration, evaluation = trained
    bundle = export_detector(
        model, tmp_path / "det.mmb", calibration=calibration, evaluation=evaluation,
        max_accuracy_drop=5.0, progress=False,
    )  # fmt: skip
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["task"] == "detection" and manifest["heads"][0]["kind"] == "anchor_free"
    assert manifest["outputs"][0]["kind"] == "detection_head"
    accuracy = manifest["reports"]["accuracy"]
    assert accuracy["metric"].startswith("mAP@0.5:0.95")
    assert accuracy["fp32"] > 0.01  # it learned something in 3 epochs
    assert 100 * (accuracy["fp32"] - accuracy["int8"]) <= 5.0
    for file, report in manifest["reports"]["parity"].items():
        notes = [n for o in report["outputs"].values() for n in o["notes"]]
        assert report["passed"] and any(n.startswith("boxes:") for n in notes), file
    tail = manifest["reports"]["quantization"]["model.int8.onnx"]["float_tail"]
    assert tail  # the decode stays in float
    frame = evaluation.samples[0]
    with Model(bundle, precision="int8") as m:
        d = m.predict(frame)
    assert isinstance(d, Detections) and d.frame_size == (frame.shape[1], frame.shape[0])


def test_int8_needs_the_decode_in_float(trained, tmp_path: Path) -> None:
    """Failing before: quantised through the decode, the concat of boxes (0..256 px) and scores
    (0..1) gets one scale and the confident boxes are mostly lost."""
    model, calibration, evaluation = trained
    onnx_path = tmp_path / "det.onnx"
    torch.onnx.export(
        model, (torch.zeros(1, 3, 192, 256),), str(onnx_path), input_names=["image"],
        output_names=["boxes"], dynamic_axes={"image": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    x = network_inputs(calibration).astype(np.float32) / 255.0
    quantizer = Int8Quantizer(onnx_path, {"image": x}, tmp_path / "q", progress=False)
    checks = DetectionChecks(DETECTOR_HEAD, evaluation.label_names, DETECTOR_SPEC)
    with torch.inference_mode():
        reference = model(torch.from_numpy(x)).numpy()

    def matched(path: Path) -> float:
        from mmedge.runtime.backends.ort import OrtBackend

        backend = OrtBackend(path, providers=["CPUExecutionProvider"])
        try:
            got = backend.infer({"image": x})["boxes"]
        finally:
            backend.close()
        return checks.box_parity(reference, got, 0.15).matched

    whole = matched(quantizer.quantize(tmp_path / "whole.onnx"))
    quantizer.always_float = quantizer.output_tail()
    graph = onnx.load(str(quantizer.prepared)).graph
    ops = {n.op_type for n in graph.node if n.name in quantizer.always_float}
    assert {"Sigmoid", "Concat"} <= ops and "Conv" not in ops, ops
    kept = matched(quantizer.quantize(tmp_path / "kept.onnx"))
    assert kept >= 0.9 > whole + 0.2, (kept, whole)


def test_nms_in_the_graph_gives_the_kernels_boxes(trained, tmp_path: Path) -> None:
    """graph_nms=True: every artifact ends in ONNX NonMaxSuppression and outputs final rows;
    the manifest's head says end2end / graph; on held-out frames through mmedge.Model the fp32
    bundle finds the boxes the kernel-NMS bundle finds, and the same mAP (pycocotools)."""
    model, calibration, evaluation = trained
    kwargs = dict(calibration=calibration, evaluation=evaluation, max_accuracy_drop=5.0,
                  progress=False)  # fmt: skip
    kernel = export_detector(model, tmp_path / "kernel.mmb", **kwargs)
    graph = export_bundle(
        model, tmp_path / "graph.mmb", name="digits",
        example_input=torch.zeros(1, 3, DETECTOR_SPEC.height, DETECTOR_SPEC.width),
        preprocess=DETECTOR_SPEC, output_name="boxes", labels=evaluation.label_names,
        task="detection", heads=[DETECTOR_HEAD], graph_nms=True,
        precisions=("fp32", "fp16", "int8"), **kwargs,
    )  # fmt: skip
    manifest = json.loads((graph / "manifest.json").read_text())
    head = manifest["heads"][0]
    assert (head["kind"], head["nms"], head["box_format"]) == ("end2end", "graph", "xyxy")
    assert manifest["outputs"][0]["shape"] == ["batch", DETECTOR_HEAD.max_detections, 6]
    assert manifest["reports"]["graph_nms"]["matched"] >= 0.99
    for file in ("model.onnx", "model.fp16.onnx", "model.int8.onnx"):
        ops = [n.op_type for n in onnx.load(str(graph / file)).graph.node]
        assert "NonMaxSuppression" in ops and "TopK" in ops, file
    accuracy = {json.loads((b / "manifest.json").read_text())["reports"]["accuracy"]["fp32"]
                for b in (kernel, graph)}  # fmt: skip
    assert max(accuracy) - min(accuracy) < 1e-3, accuracy
    with Model(kernel, precision="fp32") as a, Model(graph, precision="fp32") as b:
        for frame in evaluation.samples[:20]:
            da, db = a.predict(frame), b.predict(frame)
            assert len(da) == len(db)
            if len(da):
                iou = iou_matrix(da.xyxy, db.xyxy)
                assert (iou.max(1) > 0.999).all() and (
                    da.class_ids == db.class_ids[iou.argmax(1)]
                ).all()
                np.testing.assert_allclose(np.sort(da.scores), np.sort(db.scores), atol=1e-5)


def test_detection_export_refusals(trained, tmp_path: Path) -> None:
    model = trained[0]
    example = torch.zeros(1, 3, 192, 256)
    with pytest.raises(ExportError, match="needs a head"):
        export_bundle(model, tmp_path / "a.mmb", name="d", example_input=example,
                      preprocess=DETECTOR_SPEC, task="detection", progress=False)  # fmt: skip
    with pytest.raises(ExportError, match="needs its class labels"):
        export_bundle(model, tmp_path / "b.mmb", name="d", example_input=example,
                      preprocess=DETECTOR_SPEC, task="detection", heads=[DETECTOR_HEAD],
                      progress=False)  # fmt: skip


def test_cli_exports_a_detector_from_a_coco_folder(tmp_path: Path, data_dir: Path) -> None:
    """`mmedge export ... --task detection --head ... --eval COCO_DIR --calib DIR --nms graph`:
    the head in the manifest (end2end, NMS in the graph), mAP in the accuracy report (an
    untrained detector: any value)."""
    from mmedge.cli import main
    from mmedge.export.coco import write_coco
    from mmedge.export.zoo_detector import TinyDetector

    evaluation = make_split("eval", 12, seed=5, root=data_dir)
    coco = write_coco(evaluation, tmp_path / "coco")
    weights = tmp_path / "det.pt"
    torch.manual_seed(0)
    torch.save(TinyDetector().state_dict(), weights)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(DETECTOR_SPEC.to_dict()))
    out = tmp_path / "cli.mmb"
    code = main([
        "export", "mmedge.export.zoo_detector:tiny_detector", "--weights", str(weights),
        "-o", str(out), "--preprocess", str(spec), "--outputs", "boxes", "--task", "detection",
        "--head", '{"score_threshold": 0.3, "iou_threshold": 0.6}', "--eval", str(coco),
        "--calib", str(coco), "--precision", "fp32,int8", "--max-accuracy-drop", "100",
        "--nms", "graph", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heads"][0]["iou_threshold"] == 0.6
    assert (manifest["heads"][0]["kind"], manifest["heads"][0]["nms"]) == ("end2end", "graph")
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert manifest["reports"]["accuracy"]["metric"].startswith("mAP")
