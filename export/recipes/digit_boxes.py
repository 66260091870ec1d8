"""A detection set from real images: MNIST digits composited onto real video frames, with exact
boxes. Reproducible from a seed, generated on demand (never stored).

Splits keep sources apart: training uses MNIST's training digits on frames of vtest.avi and
box.mp4; evaluation uses MNIST's test digits (written by other people: MNIST's training and test
writers are disjoint) on frames of cup.mp4, a clip training never sees.

Each image: one real frame (BGR, its own size), 1 to 4 digits of 32 to 128 px, each blended
into the frame as ink of a random colour (alpha = the digit's grey level), placed without
overlapping another digit (IoU < 0.05). A digit's box is the tight box of its pixels with alpha
above 0.25, in frame pixels (edges: x2 is one past the last column); for segmentation
(make_mask_split) its mask is its pixels with alpha above 0.5, class = the digit + 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmedge.datasets import data_dir, load_mnist
from mmedge.export.data import BoxLabelled, MaskLabelled, MultiLabelled

TRAIN_CLIPS = ("vtest.avi", "box.mp4")
EVAL_CLIPS = ("cup.mp4",)
LABELS = [str(d) for d in range(10)]
MASK_LABELS = ["background", *LABELS]
ALPHA_EDGE = 0.25  # a pixel belongs to the digit's box above this ink coverage
MASK_ALPHA = 0.5  # a pixel belongs to the digit's mask above this ink coverage


def clip_frames(name: str, every: int, root: str | Path | None = None) -> list[np.ndarray]:
    """Every `every`-th frame of a clip in ../shared/data/video_clips (BGR)."""
    import cv2

    path = data_dir(root) / "video_clips" / name
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open {path}")
    frames, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def composite(
    frame: np.ndarray, digits: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Blends the 28x28 digits into a copy of the frame; returns (image, boxes (k, 4)). A digit
    that finds no free place in 20 tries is left out (its box row is NaN)."""
    image, boxes, _ = composite_with_mask(frame, digits, np.zeros(len(digits), np.int64), rng)
    return image, boxes


def composite_with_mask(
    frame: np.ndarray, digits: np.ndarray, classes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """composite(), and the frame's class mask: (H, W) uint8, classes[k] + 1 where digit k's
    ink covers more than half a pixel (alpha > MASK_ALPHA), 0 elsewhere."""
    import cv2

    image = frame.astype(np.float32)
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    boxes = np.full((len(digits), 4), np.nan, np.float32)
    placed: list[np.ndarray] = []
    for k, digit in enumerate(digits):
        size = int(rng.integers(32, min(129, h, w)))
        alpha = cv2.resize(digit, (size, size), interpolation=cv2.INTER_LINEAR) / 255.0
        ys, xs = np.nonzero(alpha > ALPHA_EDGE)
        tight = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
        for _ in range(20):
            x0, y0 = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
            box = tight + np.array([x0, y0, x0, y0], np.float32)
            if all(_iou(box, other) < 0.05 for other in placed):
                break
        else:
            continue
        ink = rng.uniform(0, 255, 3).astype(np.float32)
        region = image[y0 : y0 + size, x0 : x0 + size]
        a = alpha[..., None].astype(np.float32)
        region[:] = region * (1 - a) + ink * a
        mask[y0 : y0 + size, x0 : x0 + size][alpha > MASK_ALPHA] = int(classes[k]) + 1
        boxes[k] = box
        placed.append(box)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), boxes, mask


def _split_sources(split: str, seed: int, root: str | Path | None):
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    rng = np.random.default_rng(seed + (0 if split == "train" else 10_000))
    digits, labels = load_mnist("train" if split == "train" else "test", root)
    frames = [f for clip in (TRAIN_CLIPS if split == "train" else EVAL_CLIPS)
              for f in clip_frames(clip, every=3, root=root)]  # fmt: skip
    return rng, digits, labels, frames


def make_split(
    split: str, n_images: int, seed: int = 0, root: str | Path | None = None
) -> BoxLabelled:
    """'train' or 'eval' images (see the module docstring), reproducible from `seed`."""
    rng, digits, labels, frames = _split_sources(split, seed, root)
    out = BoxLabelled([], [], [], LABELS)
    for _ in range(n_images):
        frame = frames[int(rng.integers(len(frames)))]
        pick = rng.integers(0, len(digits), int(rng.integers(1, 5)))
        image, boxes = composite(frame, digits[pick], rng)
        keep = ~np.isnan(boxes[:, 0])
        out.samples.append(image)
        out.boxes.append(boxes[keep])
        out.classes.append(labels[pick][keep].astype(np.int64))
    return out


def make_mask_split(
    split: str, n_images: int, seed: int = 0, root: str | Path | None = None
) -> MaskLabelled:
    """The same images as make_split (same seed, same draws) with per-pixel class masks
    (MASK_LABELS: background, then the digits): the digits' strokes."""
    rng, digits, labels, frames = _split_sources(split, seed, root)
    out = MaskLabelled([], [], MASK_LABELS)
    for _ in range(n_images):
        frame = frames[int(rng.integers(len(frames)))]
        pick = rng.integers(0, len(digits), int(rng.integers(1, 5)))
        image, _, mask = composite_with_mask(frame, digits[pick], labels[pick], rng)
        out.samples.append(image)
        out.masks.append(mask)
    return out


def make_multi_split(
    split: str,
    n_images: int,
    seed: int = 0,
    root: str | Path | None = None,
    names: tuple[str, str] = ("digits", "strokes"),
) -> MultiLabelled:
    """The same images as make_split and make_mask_split (same seed, same draws), each with its
    boxes (truths[names[0]]) and its stroke masks (truths[names[1]]): one set for a model with
    a detection head and a segmentation head."""
    rng, digits, labels, frames = _split_sources(split, seed, root)
    boxes = BoxLabelled([], [], [], LABELS)
    masks = MaskLabelled(boxes.samples, [], MASK_LABELS)
    for _ in range(n_images):
        frame = frames[int(rng.integers(len(frames)))]
        pick = rng.integers(0, len(digits), int(rng.integers(1, 5)))
        image, found, mask = composite_with_mask(frame, digits[pick], labels[pick], rng)
        keep = ~np.isnan(found[:, 0])
        boxes.samples.append(image)
        boxes.boxes.append(found[keep])
        boxes.classes.append(labels[pick][keep].astype(np.int64))
        masks.masks.append(mask)
    return MultiLabelled({names[0]: boxes, names[1]: masks})
