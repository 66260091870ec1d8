"""NumPy float64 references of the preprocessing math, written for clarity, not speed.

They define what the C++ and CUDA kernels compute (tests hold the kernels to them) and can serve
as training-time preprocessing where the kernels are not available.
"""

from __future__ import annotations

import numpy as np
from mmedge.preprocess.image import ImageSpec, _as_hwc, channel_map


def linear_taps(dst_size: int, src_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w) per destination index in OpenCV's INTER_LINEAR convention: source coordinate
    (d + 0.5) * src/dst - 0.5 rounded to float32 as cv::resize does, clamped at the edges."""
    scale = 1.0 / (dst_size / src_size)
    f = ((np.arange(dst_size) + 0.5) * scale - 0.5).astype(np.float32).astype(np.float64)
    i0 = np.floor(f).astype(np.int64)
    w = f - i0
    low = i0 < 0
    i0[low], w[low] = 0, 0.0
    high = i0 >= src_size - 1
    i0[high], w[high] = src_size - 1, 0.0
    i1 = np.minimum(i0 + 1, src_size - 1)
    return i0, i1, w


def resize_bilinear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, C) -> (height, width, C) float64, INTER_LINEAR convention."""
    x0, x1, wx = linear_taps(width, img.shape[1])
    y0, y1, wy = linear_taps(height, img.shape[0])
    src = img.astype(np.float64)
    wx = wx[None, :, None]
    top = src[y0][:, x0] * (1 - wx) + src[y0][:, x1] * wx
    bottom = src[y1][:, x0] * (1 - wx) + src[y1][:, x1] * wx
    wy = wy[:, None, None]
    return top * (1 - wy) + bottom * wy


def image(img: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """The float64 (1, C, H, W) tensor that mmedge.preprocess.image computes."""
    hwc = _as_hwc(img, spec)
    resized = resize_bilinear(hwc, spec.width, spec.height)
    picked = resized[:, :, channel_map(spec.input_format, spec.output_format)]
    mean = np.asarray(spec.mean, dtype=np.float64)
    std = np.asarray(spec.std, dtype=np.float64)
    normalised = (picked * spec.scale - mean) / std
    return normalised.transpose(2, 0, 1)[None]
