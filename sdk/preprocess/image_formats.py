"""The pixel formats, interpolations and output types the fused image kernel knows, and the
tables it takes for a spec: the colour matrix (channel picks, BT.601 luma) scaled by the affine
normalisation, its bias, the letterbox pad value and the YUV -> RGB matrix. Shared by the CPU
and CUDA drivers."""

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
    "YUYV": "RGBY",
    "UYVY": "RGBY",
}
OUTPUT_FORMATS: dict[str, str] = {"GRAY": "Y", "BGR": "BGR", "RGB": "RGB"}
# Planar 4:2:0 camera formats and the kernel plane layout that reads each (C.PLANE_LAYOUTS):
# NV21 (Android cameras) is NV12 with V before U in each pair, read through a reversed view of
# the pairs; YV12 is I420 with the V plane before the U plane, read with the planes swapped.
# Every other input format is one packed plane.
PLANE_LAYOUT: dict[str, str] = {"NV12": "NV12", "NV21": "NV12", "I420": "I420", "YV12": "I420"}
# Packed 4:2:2 formats (USB/UVC cameras): one (H, W, 2) array, two pixels share U and V. The
# kernel layout of the same name reads the bytes in that order.
PACKED_422 = ("YUYV", "UYVY")
YUV_FORMATS = (*PLANE_LAYOUT, *PACKED_422)
# YUV -> RGB: the matrix (Kr, Kb of ITU-R BT.601 and BT.709) and the range (limited: Y in
# 16..235, chroma 16..240, as video and most camera pipelines; full: 0..255, as JPEG/JFIF).
YUV_MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
YUV_RANGES = ("limited", "full")
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


@lru_cache(maxsize=8)
def yuv_coefficients(matrix: str, value_range: str) -> tuple[float, ...]:
    """(y_offset, y_scale, vr, ug, vg, ub) of the kernel's YUV -> RGB (pixel.h YuvMatrix), in
    0..255 units: R = max(Y - y_offset, 0) * y_scale + vr * (V - 128), G = ... + ug * (U - 128)
    + vg * (V - 128), B = ... + ub * (U - 128). BT.601 limited range is OpenCV's fixed-point set
    (cv::cvtColor's ITUR_BT_601_* / 2^20); the others follow from Kr and Kb of the standard."""
    if (matrix, value_range) == ("bt601", "limited"):
        return (16.0, *(c / 2.0**20 for c in (1220542, 1673527, -409993, -852492, 2116026)))
    kr, kb = YUV_MATRICES[matrix]
    kg = 1.0 - kr - kb
    y_offset, y_scale, c_scale = (
        (16.0, 255 / 219, 255 / 224) if value_range == "limited" else (0.0, 1.0, 1.0)
    )
    return (
        y_offset,
        y_scale,
        2 * (1 - kr) * c_scale,
        -2 * kb * (1 - kb) / kg * c_scale,
        -2 * kr * (1 - kr) / kg * c_scale,
        2 * (1 - kb) * c_scale,
    )


def kernel_yuv(spec: ImageSpec) -> tuple[float, ...]:
    """The kernel's YUV -> RGB coefficients for a YUV spec; () (the kernel's default) else."""
    if spec.input_format in YUV_FORMATS:
        return yuv_coefficients(spec.yuv_matrix, spec.yuv_range)
    return ()


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
    "PACKED_422",
    "PLANE_LAYOUT",
    "SOURCE_VALUES",
    "YUV_FORMATS",
    "YUV_MATRICES",
    "YUV_RANGES",
    "colour_matrix",
    "kernel_arguments",
    "kernel_yuv",
    "yuv_coefficients",
]
