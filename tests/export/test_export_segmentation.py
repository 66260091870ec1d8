"""Exporting a segmenter: a small TinySegmenter (seeded, briefly trained on 48 composited frames)
through export_bundle with a SegmentationHead: the manifest declares the head and the
segmentation_logits output, parity is judged on the pixels' classes, accuracy is mIoU through
mmedge.Model at the frames' resolution (the same number mmedge.tasks.metrics gives on the
bundle's own masks), and int8 is calibrated and gated like the other tasks. Bad requests are
refused before any work, by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import mmedge
from mmedge.errors import ExportError
from mmedge.export import export_bundle
from mmedge.export.recipes.digit_boxes import make_mask_split
from mmedge.export.recipes.segmentation import SEGMENTER_SPEC, train_segmenter
from mmedge.export.zoo_segmenter import TinySegmenter
from mmedge.tasks import Masks, SegmentationHead
from mmedge.tasks.metrics import confusion, mean_iou


@pytest.fixture(scope="module")
def data(data_dir: Path):
    return (
        make_mask_split("train", 48, seed=3, root=data_dir),
        make_mask_split("eval", 16, seed=3, root=data_dir),
    )


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export runs in an empty working directory, which must stay empty (ONNX Runtime's
    symbolic shape inference, failing on this graph's Resize, writes its temporary model into
    the current directory; the int8 stage runs it in its scratch folder)."""
    train, evaluation = data
    model, _ = train_segmenter(train, epochs=2, batch_size=16, width=4, progress=False)
    cwd, before = tmp_path_factory.mktemp("cwd"), os.getcwd()
    os.chdir(cwd)
    try:
        path = _export(model, train, evaluation, tmp_path_factory.mktemp("seg") / "seg.mmb")
    finally:
        os.chdir(before)
    assert list(cwd.iterdir()) == []
    return path


def _export(model, train, evaluation, out: Path) -> Path:
    return export_bundle(
        model, out, name="seg",
        example_input=torch.zeros(1, 3, SEGMENTER_SPEC.height, SEGMENTER_SPEC.width),
        preprocess=SEGMENTER_SPEC, labels=evaluation.label_names, task="segmentation",
        heads=[SegmentationHead(output="logits")], precisions=("fp32", "int8"),
        calibration=train, evaluation=evaluation, max_accuracy_drop=100.0, progress=False,
    )  # fmt: skip


def test_the_manifest_declares_the_head_and_the_reports(exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["task"] == "segmentation"
    assert manifest["heads"] == [{"output": "logits", "confidence": False, "task": "segmentation"}]
    assert manifest["outputs"][0]["kind"] == "segmentation_logits"
    accuracy = manifest["reports"]["accuracy"]
    assert accuracy["metric"].startswith("mIoU") and set(accuracy["artifacts"]) >= {
        "model.onnx",
        "model.int8.onnx",
    }
    notes = manifest["reports"]["parity"]["model.onnx"]["outputs"]["logits"]["notes"]
    assert any(n.startswith("pixel classes agree") for n in notes)


def test_the_reported_miou_is_the_bundles_masks(exported: Path, data) -> None:
    _, evaluation = data
    manifest = json.loads((exported / "manifest.json").read_text())
    with mmedge.Model(exported, artifact="model.onnx") as model:
        found = model.predict_batch(evaluation.samples)
    assert all(isinstance(m, Masks) for m in found)
    miou = mean_iou(confusion([m.mask for m in found], evaluation.masks, 11))
    assert manifest["reports"]["accuracy"]["artifacts"]["model.onnx"] == pytest.approx(miou)


def test_bad_requests_are_refused_by_name(data, tmp_path: Path) -> None:
    train, evaluation = data
    model = TinySegmenter(11, 4).eval()
    common = {
        "example_input": torch.zeros(1, 3, SEGMENTER_SPEC.height, SEGMENTER_SPEC.width),
        "preprocess": SEGMENTER_SPEC, "progress": False,
    }  # fmt: skip
    with pytest.raises(ExportError, match="task 'segmentation' needs a head"):
        export_bundle(model, tmp_path / "a.mmb", name="a", task="segmentation",
                      labels=evaluation.label_names, **common)  # fmt: skip
    with pytest.raises(ExportError, match="a segmentation head needs task='segmentation'"):
        export_bundle(model, tmp_path / "b.mmb", name="b", labels=evaluation.label_names,
                      heads=[SegmentationHead()], **common)  # fmt: skip
    with pytest.raises(ExportError, match="10 labels but output 'logits' has 11 classes"):
        export_bundle(model, tmp_path / "c.mmb", name="c", task="segmentation",
                      labels=evaluation.label_names[:10], heads=[SegmentationHead()],
                      **common)  # fmt: skip
    assert not list(tmp_path.iterdir())
    assert np.all([m.dtype == np.uint8 for m in train.masks])


def test_cli_exports_a_segmenter_from_a_mask_folder(tmp_path: Path, data) -> None:
    """`mmedge export ... --task segmentation --eval DIR (images/ + masks/ + labels.txt)`: the
    head and the output kind in the manifest, mIoU in the accuracy report (an untrained
    segmenter: any value); a mask of another size is refused naming both sizes."""
    import cv2

    from mmedge.cli import main
    from mmedge.export.mask_folder import read_masks, write_masks

    _, evaluation = data
    folder = write_masks(evaluation.subset(range(6)), tmp_path / "seg")
    assert [m.tolist() for m in read_masks(folder).masks] == [
        m.tolist() for m in evaluation.masks[:6]
    ]
    weights = tmp_path / "seg.pt"
    torch.manual_seed(0)
    torch.save(TinySegmenter().state_dict(), weights)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SEGMENTER_SPEC.to_dict()))
    out = tmp_path / "cli.mmb"
    code = main([
        "export", "mmedge.export.zoo_segmenter:tiny_segmenter", "--weights", str(weights),
        "-o", str(out), "--preprocess", str(spec), "--task", "segmentation",
        "--eval", str(folder), "--calib", str(folder / "images"), "--precision", "fp32,int8",
        "--max-accuracy-drop", "100", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heads"] == [{"output": None, "confidence": False, "task": "segmentation"}]
    assert manifest["outputs"][0]["kind"] == "segmentation_logits"
    assert manifest["labels"] == evaluation.label_names
    assert manifest["reports"]["accuracy"]["metric"].startswith("mIoU")
    cv2.imwrite(str(folder / "masks" / "00002.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(ExportError, match=r"00002.png is 10x10 px, its image 640x480"):
        read_masks(folder)
