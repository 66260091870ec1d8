"""Segmentation logits and the float64 definition of the mask kernel (mask.h), shared by the CPU
and CUDA kernel tests and the benchmarks."""

from __future__ import annotations

import cv2
import numpy as np

TIE = 1e-4


def smooth_logits(classes: int, height: int, width: int, seed: int) -> np.ndarray:
    """Region-like logits: coarse random fields upsampled (bicubic) plus a little noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 3, (max(2, height // 8), max(2, width // 8), classes)).astype(np.float32)
    fine = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).reshape(
        height, width, classes
    )
    fine += rng.normal(0, 0.05, fine.shape).astype(np.float32)
    return np.ascontiguousarray(fine.transpose(2, 0, 1))[None]


def reference(logits: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, margin between the two best classes, softmax confidence), float64, from the
    definition in mask.h."""
    x = logits[0].astype(np.float64)
    _, lh, lw = x.shape

    def taps(count: int, scale: float, offset: float, lo: float, hi: float, size: int):
        f = np.clip((np.arange(count) + 0.5) * scale + offset - 0.5, lo, hi)
        i0 = np.floor(f).astype(np.int64)
        w = f - i0
        w[i0 >= size - 1] = 0.0
        i0 = np.minimum(i0, size - 1)
        return i0, np.minimum(i0 + 1, size - 1), w

    sx, ox, lox, hix, sy, oy, loy, hiy, width, height = m
    x0, x1, wx = taps(int(width), sx, ox, lox, hix, lw)
    y0, y1, wy = taps(int(height), sy, oy, loy, hiy, lh)
    top = x[:, y0][:, :, x0] * (1 - wx) + x[:, y0][:, :, x1] * wx
    bottom = x[:, y1][:, :, x0] * (1 - wx) + x[:, y1][:, :, x1] * wx
    v = top * (1 - wy[:, None]) + bottom * wy[:, None]
    ordered = np.sort(v, axis=0)
    e = np.exp(v - ordered[-1])
    return v.argmax(0).astype(np.uint8), ordered[-1] - ordered[-2], 1.0 / e.sum(0)


def assert_masks_agree(got: np.ndarray, expected: np.ndarray, margin: np.ndarray) -> None:
    differ = got != expected
    assert differ.mean() < 1e-3, f"{differ.sum()} of {differ.size} pixels differ"
    assert np.all(margin[differ] < TIE), margin[differ].max()
