"""Trains the zoo's two-head network (export.zoo_multitask) on digits composited onto real
frames (digit_boxes.make_multi_split: each image with its boxes and its stroke masks), one loss
per head summed, and exports it as one multi-task bundle: one ONNX, two heads declared in the
manifest (detection 'digits', segmentation 'strokes'), parity and accuracy gated per head.
The tensors come from the bundle's own preprocessing; box and mask targets reach the network's
grids through the same geometry (recipes.detection / recipes.segmentation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.export.bundle_export import ModelOutput, export_bundle
from mmedge.export.data import MultiLabelled
from mmedge.export.detection_metrics import coco_map
from mmedge.export.recipes import detection, segmentation
from mmedge.export.recipes.digit_boxes import LABELS, MASK_LABELS
from mmedge.export.recipes.training import TrainResult, fit
from mmedge.export.zoo_detector import raw_detection_loss
from mmedge.export.zoo_multitask import TinyMultiTask
from mmedge.export.zoo_segmenter import segmentation_loss
from mmedge.tasks import DetectionHead, SegmentationHead, mask_map
from mmedge.tasks.metrics import confusion, mean_iou

MULTI_SPEC = pp.ImageSpec(256, 192, letterbox="ultralytics", pad_value=114)
BOX_HEAD = DetectionHead(
    name="digits", labels=tuple(LABELS), output="boxes",
    score_threshold=0.05, iou_threshold=0.5, max_detections=100,
)  # fmt: skip
MASK_HEAD = SegmentationHead(name="strokes", labels=tuple(MASK_LABELS), output="masks")
HEADS = (BOX_HEAD, MASK_HEAD)


def train_multitask(
    data: MultiLabelled,
    *,
    epochs: int = 12,
    batch_size: int = 16,
    lr: float = 4e-3,
    width: int = 12,
    mask_weight: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TinyMultiTask, TrainResult]:
    """Adam with a one-cycle schedule on detection loss + mask_weight x segmentation loss; no
    flips (digits are not symmetric). Seeded."""
    torch.manual_seed(seed)
    boxes_truth, masks_truth = data.truths[BOX_HEAD.name], data.truths[MASK_HEAD.name]
    x_all = detection.network_inputs(boxes_truth, MULTI_SPEC)
    boxes = [torch.from_numpy(b) for b in detection.network_boxes(boxes_truth, MULTI_SPEC)]
    classes = [torch.from_numpy(c) for c in boxes_truth.classes]
    targets = segmentation.logit_targets(masks_truth, MULTI_SPEC)
    weights = torch.ones(len(MASK_LABELS))
    weights[0] = 0.2  # background is ~99% of the pixels
    model = TinyMultiTask(len(LABELS), width)

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(x_all[idx].astype(np.float32) / 255.0)
        ltrb, logits, centres, masks = model.raw(x)
        box_loss = raw_detection_loss(
            ltrb, logits, centres, [boxes[i] for i in idx], [classes[i] for i in idx]
        )
        y = torch.from_numpy(targets[idx].astype(np.int64))
        return box_loss + mask_weight * segmentation_loss(masks, y, weights)

    result = fit(model, len(data), loss_of, epochs=epochs, batch_size=batch_size, lr=lr,
                 seed=seed, desc="train multi-task", progress=progress)  # fmt: skip
    return model, result


def torch_scores(model: torch.nn.Module, data: MultiLabelled) -> dict[str, float]:
    """The PyTorch model's per-head figures (the export's reference): mAP@0.5:0.95 of the boxes
    in network px and mIoU of the masks at the frames' resolution."""
    boxes_truth = data.truths[BOX_HEAD.name]
    x = detection.network_inputs(boxes_truth, MULTI_SPEC).astype(np.float32) / 255.0
    found, masks = [], []
    with torch.inference_mode():
        for s in range(0, len(x), 32):
            raw_boxes, raw_masks = (o.numpy() for o in model(torch.from_numpy(x[s : s + 32])))
            n = len(raw_boxes)
            ident = np.tile(np.array([[1, 0, 1, 0, 1e6, 1e6]], np.float32), (n, 1))
            found += BOX_HEAD.decode(raw_boxes, ident, LABELS, [(0, 0)] * n)
            sizes = [(f.shape[1], f.shape[0]) for f in data.samples[s : s + 32]]
            lh, lw = raw_masks.shape[2:]
            maps = np.stack([mask_map(MULTI_SPEC, w, h, lw, lh) for w, h in sizes])
            masks += [m.mask for m in MASK_HEAD.decode(raw_masks, maps, MASK_LABELS, sizes)]
    boxes = coco_map(
        [(d.xyxy, d.scores, d.class_ids) for d in found],
        detection.network_boxes(boxes_truth, MULTI_SPEC),
        boxes_truth.classes,
        len(LABELS),
    )
    matrix = confusion(masks, data.truths[MASK_HEAD.name].masks, len(MASK_LABELS))
    return {BOX_HEAD.name: boxes["map50_95"], MASK_HEAD.name: mean_iou(matrix)}


def export_multitask(
    model: torch.nn.Module,
    out: str | Path,
    *,
    calibration: MultiLabelled,
    evaluation: MultiLabelled,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    max_accuracy_drop: float = 3.0,
    calibration_method: str = "minmax",
    fixture_bytes: int = 1_400_000,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """The two-head network as one bundle: MULTI_SPEC, both heads in the manifest, box parity
    and pixel-class parity per precision, mAP and mIoU on `evaluation` (int8 within
    max_accuracy_drop points of fp32 for each head)."""
    return export_bundle(
        model,
        out,
        name="digit_multitask",
        example_input=torch.zeros(1, 3, MULTI_SPEC.height, MULTI_SPEC.width),
        preprocess=MULTI_SPEC,
        outputs=[
            ModelOutput(BOX_HEAD.output or "boxes", "detection_head"),
            ModelOutput(MASK_HEAD.output or "masks", "segmentation_logits"),
        ],
        task="multi_task",
        heads=list(HEADS),
        description=(
            "TinyMultiTask (export.zoo_multitask): digit boxes and digit strokes from one "
            "encoder, trained on MNIST training digits composited onto frames of vtest.avi and "
            "box.mp4 (export.recipes.digit_boxes.make_multi_split); evaluated on MNIST test "
            "digits over cup.mp4"
        ),
        precisions=precisions,
        calibration=calibration,
        evaluation=evaluation,
        max_accuracy_drop=max_accuracy_drop,
        calibration_method=calibration_method,
        fixture_bytes=fixture_bytes,
        progress=progress,
        overwrite=overwrite,
    )
