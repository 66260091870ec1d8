"""Boxes between the network input and the source frame: the inverse of every `ImageSpec`
geometry (stretch, OpenCV and Ultralytics letterbox, centre crop, any input format).

The image kernel resizes the frame (src_w x src_h px) to a full_w x full_h image, takes the
window at (win_x, win_y) of it (a centre crop; none otherwise) and writes that at (roi_x, roi_y)
of the network input (a letterbox offset; 0 otherwise). Box edges map exactly as pixel edges do:
    x_src = (x_net - roi_x + win_x) * src_w / full_w
(the same for y), one scale and offset per axis. Ultralytics' scale_boxes divides by its `gain`
instead of src_w / full_w, which differs from the resize it made by the rounding of the resized
size (under 0.5 px at the frame's scale); mmedge inverts the resize it actually did.
"""

from __future__ import annotations

import numpy as np

from mmedge.preprocess.image_spec import ImageSpec


def box_map(spec: ImageSpec, src_width: int, src_height: int) -> np.ndarray:
    """(scale_x, offset_x, scale_y, offset_y, width, height) float32 of the network -> source
    map of one frame: x_src = x_net * scale_x + offset_x, clipped to [0, width] px."""
    x, y, rw, rh = spec.resize_region(src_width, src_height)
    full_w, full_h, win_x, win_y = spec.resize_window(src_width, src_height)
    full_w, full_h = full_w or rw, full_h or rh
    sx, sy = src_width / full_w, src_height / full_h
    return np.array(
        [sx, (win_x - x) * sx, sy, (win_y - y) * sy, src_width, src_height], dtype=np.float32
    )


def to_source(xyxy: np.ndarray, spec: ImageSpec, src_width: int, src_height: int) -> np.ndarray:
    """(N, 4) boxes in network-input px -> source-frame px, clipped to the frame (float64)."""
    sx, ox, sy, oy, w, h = box_map(spec, src_width, src_height).astype(np.float64)
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.stack([b[:, 0] * sx + ox, b[:, 1] * sy + oy, b[:, 2] * sx + ox, b[:, 3] * sy + oy], 1)
    return np.clip(out, 0, [w, h, w, h])


def to_network(xyxy: np.ndarray, spec: ImageSpec, src_width: int, src_height: int) -> np.ndarray:
    """(N, 4) boxes in source-frame px -> network-input px (the forward geometry; for labels
    of training data and for tests of to_source)."""
    sx, ox, sy, oy, _, _ = box_map(spec, src_width, src_height).astype(np.float64)
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack(
        [(b[:, 0] - ox) / sx, (b[:, 1] - oy) / sy, (b[:, 2] - ox) / sx, (b[:, 3] - oy) / sy], 1
    )


def mask_map(
    spec: ImageSpec, src_width: int, src_height: int, logit_width: int, logit_height: int
) -> np.ndarray:
    """(scale_x, offset_x, lo_x, hi_x, scale_y, offset_y, lo_y, hi_y, width, height) float64:
    the source -> logit map of one frame for mmedge._C.segment. Source pixel u samples logit
    coordinate clamp((u + 0.5) * scale + offset - 0.5, lo, hi) (pixel centres): the frame's
    resize, crop window and letterbox offset inverted, with the logits covering the network
    input at logit_width / input width per px (a stride-s head: 1 / s). lo..hi is the logit
    span of the frame's content (the letterbox padding never votes); pixels a centre crop cut
    away take the class at the crop's edge."""
    net_w, net_h = spec.tensor_size(src_width, src_height)
    x, y, rw, rh = spec.resize_region(src_width, src_height)
    full_w, full_h, win_x, win_y = spec.resize_window(src_width, src_height)
    full_w, full_h = full_w or rw, full_h or rh
    row = []
    for logits, net, src, full, start, size, win in (
        (logit_width, net_w, src_width, full_w, x, rw, win_x),
        (logit_height, net_h, src_height, full_h, y, rh, win_y),
    ):
        k = logits / net  # logit px per network px
        lo = min(max(start * k, 0.0), logits - 1.0)
        hi = min(max((start + size) * k - 1.0, lo), logits - 1.0)
        row += [k * full / src, (start - win) * k, lo, hi]
    return np.array([*row, src_width, src_height], dtype=np.float64)
