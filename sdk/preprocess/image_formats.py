"""The pixel formats, interpolations and output types the fused image kernel knows, and the
tables it takes for a spec: the colour matrix (channel picks, BT.601 luma) scaled by the affine
normalisation, its bias, and the letterbox pad value. Shared by the CPU and CUDA drivers."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from mmedge._ext import C

if TYPE_CHECKING:
    from mmedge.preprocess.image_spec import ImageSpec

# Values the kernel reads per source pixel, by letter: packed formats give their channels in
# memory order; YUV 4:2:0 formats are converted to R, G, B and give the raw luma Y as well.
SOURCE_VALUES: dict[str, str] = {
    "GRAY": "Y",
    "BGR": "BGR",
    "RGB": "RGB",
    "BGRA": "BGRA",
    "RGBA": "RGBA",
    "NV12": "RGBY",
    "NV21": "RGBY",
    "I420": "RGBY",
    "YV12": "RGBY",
}
OUTPUT_FORMATS: dict[str, str] = {"GRAY": "Y", "BGR": "BGR", "RGB": "RGB"}
# Planar 4:2:0 camera formats and the kernel plane layout that reads each (C.PLANE_LAYOUTS):
# NV21 (Android cameras) is NV12 with V before U in each pair, read through a reversed view of
# the pairs; YV12 is I420 with the V plane before the U plane, read with the planes swapped.
# Every other input format is one packed plane.
PLANE_LAYOUT: dict[str, str] = {"NV12": "NV12", "NV21": "NV12", "I420": "I420", "YV12": "I420"}
YUV_FORMATS = tuple(PLANE_LAYOUT)
PACKED = "packed"
# The kernel's resampling modes, by the names it takes (declared in the binding).
INTERPOLATIONS: tuple[str, ...] = tuple(C.INTERPOLATIONS)
LETTERBOX_STYLES = ("opencv", "ultralytics")
DTYPES = ("float32", "float16")
LAYOUTS = ("NCHW",)
# ITU-R BT.601 luma weights, as cv::cvtColor(COLOR_BGR2GRAY) uses them.
LUMA = {"R": 0.299, "G": 0.587, "B": 0.114}


def colour_matrix(input_format: str, output_format: str) -> np.ndarray:
    """(out_channels, source values) weights: one-hot rows for channel picks, BT.601 luma
    weights for colour -> GRAY, and GRAY repeated for GRAY -> colour."""
    src, out = SOURCE_VALUES[input_format], OUTPUT_FORMATS[output_format]
    m = np.zeros((len(out), len(src)))
    for c, letter in enumerate(out):
        if letter in src:
            m[c, src.index(letter)] = 1.0
        elif letter == "Y":
            for rgb, w in LUMA.items():
                m[c, src.index(rgb)] = w
        else:  # a colour channel from a grey source
            m[c, src.index("Y")] = 1.0
    return m


@lru_cache(maxsize=256)
def kernel_arguments(spec: ImageSpec) -> tuple[list[list[float]], list[float], list[float]]:
    """(weight rows, bias, pad) of the kernel's colour matrix for this spec (cached per spec):
    the colour matrix scaled by alpha, beta as bias, and the pad value normalised."""
    alpha, beta = spec.affine()
    m = colour_matrix(spec.input_format, spec.output_format)
    weight = [[float(a * w) for w in row] for a, row in zip(alpha, m, strict=True)]
    pad = [a * p + b for a, p, b in zip(alpha, spec.pad_value, beta, strict=True)]
    return weight, [float(b) for b in beta], pad


__all__ = [
    "DTYPES",
    "INTERPOLATIONS",
    "LAYOUTS",
    "LETTERBOX_STYLES",
    "LUMA",
    "OUTPUT_FORMATS",
    "PACKED",
    "PLANE_LAYOUT",
    "SOURCE_VALUES",
    "YUV_FORMATS",
    "colour_matrix",
    "kernel_arguments",
]
