"""Trains the zoo detector on digits composited onto real frames (digit_boxes) and measures it:
the tensors come from the bundle's own preprocessing (mmedge.preprocess.image with the
detector's ImageSpec) and the boxes from the frames through the same geometry
(mmedge.tasks.to_network), so training sees exactly what deployment feeds the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import BoxLabelled
from mmedge.export.detection_metrics import coco_map
from mmedge.export.recipes.training import TrainResult, fit
from mmedge.export.zoo_detector import TinyDetector, detection_loss
from mmedge.tasks import DetectionHead, to_network

DETECTOR_SPEC = pp.ImageSpec(256, 192, letterbox="ultralytics", pad_value=114)
DETECTOR_HEAD = DetectionHead(score_threshold=0.05, iou_threshold=0.5, max_detections=100)


def network_inputs(data: BoxLabelled, spec: pp.ImageSpec = DETECTOR_SPEC) -> np.ndarray:
    """(N, 3, H, W) uint8 of the preprocessed frames (x 255, rounded: a quarter of the memory
    of float32; the rounding is below half a grey level)."""
    out = np.empty((len(data), 3, spec.height, spec.width), np.uint8)
    for i, image in enumerate(data.samples):
        out[i] = np.clip(pp.image(image, spec)[0] * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def network_boxes(data: BoxLabelled, spec: pp.ImageSpec = DETECTOR_SPEC) -> list[np.ndarray]:
    """Each image's boxes in network-input pixels."""
    return [
        to_network(b, spec, im.shape[1], im.shape[0]).astype(np.float32)
        for b, im in zip(data.boxes, data.samples, strict=True)
    ]


def train_detector(
    data: BoxLabelled,
    *,
    epochs: int = 12,
    batch_size: int = 32,
    lr: float = 3e-3,
    width: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TinyDetector, TrainResult]:
    """Adam with a cosine decay; random horizontal flips are not used (digits are not
    symmetric). Seeded; PyTorch's threaded CPU kernels can still differ in the last bits."""
    torch.manual_seed(seed)
    x_all = network_inputs(data)
    boxes = [torch.from_numpy(b) for b in network_boxes(data)]
    classes = [torch.from_numpy(c) for c in data.classes]
    model = TinyDetector(len(data.label_names), width)

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(x_all[idx].astype(np.float32) / 255.0)
        return detection_loss(model, x, [boxes[i] for i in idx], [classes[i] for i in idx])

    result = fit(model, len(data), loss_of, epochs=epochs, batch_size=batch_size, lr=lr,
                 seed=seed, desc="train detector", progress=progress)  # fmt: skip
    return model, result


def torch_map(
    model: torch.nn.Module, data: BoxLabelled, head: DetectionHead = DETECTOR_HEAD
) -> dict:
    """COCO mAP of the PyTorch model in network pixels (the export's reference)."""
    x = network_inputs(data).astype(np.float32) / 255.0
    with torch.inference_mode():
        raw = np.concatenate(
            [model(torch.from_numpy(x[s : s + 64])).numpy() for s in range(0, len(x), 64)]
        )
    maps = np.tile(np.array([[1, 0, 1, 0, 1e6, 1e6]], np.float32), (len(x), 1))
    found = head.decode(raw, maps, data.label_names, [(0, 0)] * len(x))
    predictions = [(d.xyxy, d.scores, d.class_ids) for d in found]
    return coco_map(predictions, network_boxes(data), data.classes, len(data.label_names))


def export_detector(
    model: torch.nn.Module,
    out: str | Path,
    *,
    calibration: BoxLabelled,
    evaluation: BoxLabelled,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    max_accuracy_drop: float = 3.0,
    fixture_bytes: int = 1_400_000,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """The detector as a bundle: its ImageSpec and DETECTOR_HEAD in the manifest, box parity
    per precision and COCO mAP on `evaluation` (int8 within max_accuracy_drop mAP points)."""
    return export_bundle(
        model,
        out,
        name="digit_detector",
        example_input=torch.zeros(1, 3, DETECTOR_SPEC.height, DETECTOR_SPEC.width),
        preprocess=DETECTOR_SPEC,
        output_name="boxes",
        labels=evaluation.label_names,
        task="detection",
        heads=[DETECTOR_HEAD],
        description=(
            "TinyDetector (export.zoo_detector) trained on MNIST training digits composited onto "
            "frames of vtest.avi and box.mp4 (export.recipes.digit_boxes); evaluated on MNIST "
            "test digits over cup.mp4"
        ),
        precisions=precisions,
        calibration=calibration,
        evaluation=evaluation,
        max_accuracy_drop=max_accuracy_drop,
        fixture_bytes=fixture_bytes,
        progress=progress,
        overwrite=overwrite,
    )
