"""Trains the zoo segmenter on digits composited onto real frames (digit_boxes.make_mask_split)
and measures it: the tensors come from the bundle's own preprocessing (mmedge.preprocess.image
with the segmenter's ImageSpec) and the target masks are the frames' masks taken to the logits'
grid through the same geometry (nearest, for training only; the accuracy is measured at the
frames' resolution), so training sees what deployment feeds the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import MaskLabelled
from mmedge.export.recipes.training import TrainResult, fit
from mmedge.export.zoo_segmenter import STRIDE, TinySegmenter, segmentation_loss
from mmedge.tasks import SegmentationHead, mask_map
from mmedge.tasks.metrics import confusion, mean_iou

SEGMENTER_SPEC = pp.ImageSpec(256, 192, letterbox="opencv", pad_value=114)
SEGMENTER_HEAD = SegmentationHead(output="logits")
LOGITS = (SEGMENTER_SPEC.width // STRIDE, SEGMENTER_SPEC.height // STRIDE)


def network_inputs(data: MaskLabelled, spec: pp.ImageSpec = SEGMENTER_SPEC) -> np.ndarray:
    """(N, 3, H, W) uint8 of the preprocessed frames (x 255, rounded)."""
    out = np.empty((len(data), 3, spec.height, spec.width), np.uint8)
    for i, image in enumerate(data.samples):
        out[i] = np.clip(pp.image(image, spec)[0] * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def logit_targets(data: MaskLabelled, spec: pp.ImageSpec = SEGMENTER_SPEC) -> np.ndarray:
    """(N, h, w) uint8 target per logit pixel: the frame's mask at the logit pixel's centre
    (the forward geometry of mask_map); 255 over the letterbox padding (ignored)."""
    lw, lh = LOGITS
    out = np.full((len(data), lh, lw), 255, np.uint8)
    for i, mask in enumerate(data.masks):
        h, w = mask.shape
        sx, ox, lox, hix, sy, oy, loy, hiy, _, _ = mask_map(spec, w, h, lw, lh)
        # logit centre j + 0.5 = (u + 0.5) * s + o  ->  u = (j + 0.5 - o) / s - 0.5
        cols = np.arange(lw)
        rows = np.arange(lh)
        us = np.clip(np.rint((cols + 0.5 - ox) / sx - 0.5), 0, w - 1).astype(np.int64)
        vs = np.clip(np.rint((rows + 0.5 - oy) / sy - 0.5), 0, h - 1).astype(np.int64)
        inside = ((cols >= lox - 0.5) & (cols <= hix + 0.5))[None] & (
            (rows >= loy - 0.5) & (rows <= hiy + 0.5)
        )[:, None]
        out[i] = np.where(inside, mask[vs[:, None], us[None]], 255)
    return out


def train_segmenter(
    data: MaskLabelled,
    *,
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 4e-3,
    width: int = 12,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TinySegmenter, TrainResult]:
    """Adam with a one-cycle schedule; no flips (digits are not symmetric). Seeded."""
    torch.manual_seed(seed)
    x_all, y_all = network_inputs(data), logit_targets(data)
    classes = len(data.label_names)
    weights = torch.ones(classes)
    weights[0] = 0.2  # background is ~99% of the pixels
    model = TinySegmenter(classes, width)

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(x_all[idx].astype(np.float32) / 255.0)
        return segmentation_loss(model(x), torch.from_numpy(y_all[idx].astype(np.int64)), weights)

    result = fit(model, len(data), loss_of, epochs=epochs, batch_size=batch_size, lr=lr,
                 seed=seed, desc="train segmenter", progress=progress)  # fmt: skip
    return model, result


def torch_miou(model: torch.nn.Module, data: MaskLabelled) -> float:
    """mIoU of the PyTorch model at the frames' resolution (its logits through the bundle's
    SegmentationHead): the export's reference."""
    x = network_inputs(data).astype(np.float32) / 255.0
    found = []
    with torch.inference_mode():
        for s in range(0, len(x), 32):
            raw = model(torch.from_numpy(x[s : s + 32])).numpy()
            frames = data.samples[s : s + 32]
            sizes = [(f.shape[1], f.shape[0]) for f in frames]
            maps = np.stack([mask_map(SEGMENTER_SPEC, w, h, *LOGITS) for w, h in sizes])
            found += [m.mask for m in SEGMENTER_HEAD.decode(raw, maps, data.label_names, sizes)]
    return mean_iou(confusion(found, data.masks, len(data.label_names)))


def export_segmenter(
    model: torch.nn.Module,
    out: str | Path,
    *,
    calibration: MaskLabelled,
    evaluation: MaskLabelled,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    max_accuracy_drop: float = 3.0,
    fixture_bytes: int = 1_400_000,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """The segmenter as a bundle: its ImageSpec and SEGMENTER_HEAD in the manifest, pixel-class
    parity per precision and mIoU on `evaluation` (int8 within max_accuracy_drop points)."""
    return export_bundle(
        model,
        out,
        name="digit_segmenter",
        example_input=torch.zeros(1, 3, SEGMENTER_SPEC.height, SEGMENTER_SPEC.width),
        preprocess=SEGMENTER_SPEC,
        output_name="logits",
        labels=evaluation.label_names,
        task="segmentation",
        heads=[SEGMENTER_HEAD],
        description=(
            "TinySegmenter (export.zoo_segmenter) trained on the strokes of MNIST training "
            "digits composited onto frames of vtest.avi and box.mp4 "
            "(export.recipes.digit_boxes.make_mask_split); evaluated on MNIST test digits "
            "over cup.mp4"
        ),
        precisions=precisions,
        calibration=calibration,
        evaluation=evaluation,
        max_accuracy_drop=max_accuracy_drop,
        fixture_bytes=fixture_bytes,
        progress=progress,
        overwrite=overwrite,
    )
