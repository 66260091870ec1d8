"""Pictures of results: boxes with labels, scores and track ids drawn on a BGR frame, and class
masks blended over it (OpenCV).

Colours follow the track id (the class id for untracked boxes), so one object keeps its colour
through a video."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmedge.errors import MMEdgeError
from mmedge.tasks.detections import Detections
from mmedge.tasks.masks import UNKNOWN, Masks

Point = tuple[float, float]


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError as exc:
        raise MMEdgeError(f"drawing needs OpenCV ({exc}): pip install opencv-python") from exc
    return cv2


def colour_of(key: int) -> tuple[int, int, int]:
    """A saturated BGR colour for an id: hues a golden angle apart, so neighbours differ."""
    hue = (key * 0.618033988749895) % 1.0
    h6 = hue * 6.0
    x = 1.0 - abs(h6 % 2.0 - 1.0)
    r, g, b = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h6) % 6]
    return int(40 + 215 * b), int(40 + 215 * g), int(40 + 215 * r)


def draw_detections(
    image: np.ndarray,
    found: Detections,
    *,
    lines: Sequence[tuple[Point, Point]] = (),
    thickness: int = 2,
) -> np.ndarray:
    """A copy of `image` (uint8 (H, W, 3) BGR, or (H, W) grey: drawn in colour) with each box
    (source px), a caption 'label #track score' above it, and the given line segments."""
    cv2 = _cv2()
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise MMEdgeError(
            f"draw_detections needs a uint8 (H, W[, 3]) frame, got {image.dtype} {image.shape}"
        )
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for p, q in lines:
        cv2.line(out, (round(p[0]), round(p[1])), (round(q[0]), round(q[1])), (255, 255, 255), 1)
    tracked = found.track_ids is not None
    for i in range(len(found)):
        key = int(found.track_ids[i]) if tracked else int(found.class_ids[i])  # type: ignore[index]
        colour = colour_of(key)
        x1, y1, x2, y2 = (round(float(v)) for v in found.xyxy[i])
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), colour, thickness)
        caption = found.labels[i] + (f" #{key}" if tracked and key >= 0 else "")
        caption += f" {found.scores[i]:.2f}"
        (w, h), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(y1 - h - base - 2, 0)
        cv2.rectangle(out, (x1, top), (x1 + w + 4, top + h + base + 2), colour, -1)
        cv2.putText(
            out, caption, (x1 + 2, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
            cv2.LINE_AA,
        )  # fmt: skip
    return out


def overlay_masks(
    image: np.ndarray,
    masks: Masks,
    *,
    alpha: float = 0.5,
    background: int | None = 0,
    legend: bool = True,
) -> np.ndarray:
    """A copy of `image` (uint8 (H, W, 3) BGR or (H, W) grey, the frame the masks were made
    for) with each class's pixels blended in its colour (colour_of(class id)) at `alpha`
    (0..1); `background`: a class id left undrawn (None: draw every class); unknown pixels
    (255) grey; with `legend`, the names of the classes present, in their colours."""
    cv2 = _cv2()
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise MMEdgeError(
            f"overlay_masks needs a uint8 (H, W[, 3]) frame, got {image.dtype} {image.shape}"
        )
    if image.shape[:2] != masks.mask.shape:
        raise MMEdgeError(
            f"overlay_masks: the frame is {image.shape[1]}x{image.shape[0]} px, the masks "
            f"{masks.mask.shape[1]}x{masks.mask.shape[0]}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise MMEdgeError(f"overlay_masks: alpha must be in [0, 1], got {alpha}")
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    palette = np.array([colour_of(k) for k in range(256)], np.uint8)
    palette[UNKNOWN] = (128, 128, 128)
    drawn = np.ones(256, bool)
    if background is not None:
        drawn[background] = False
    where = drawn[masks.mask]
    blend = out[where].astype(np.float32) * (1 - alpha) + palette[masks.mask[where]] * alpha
    out[where] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
    if legend:
        y = 18
        for k in np.flatnonzero(masks.areas()):
            if k == background:
                continue
            cv2.putText(out, masks.labels[k], (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        tuple(int(c) for c in palette[k]), 1, cv2.LINE_AA)  # fmt: skip
            y += 18
    return out
