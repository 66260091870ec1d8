"""NumPy float64 reference of the image preprocessing (mmedge.preprocess.image), written for
clarity, not speed: the resampling matrices of every interpolation, the YUV conversion, the
letterbox and crop geometry. Re-exported by mmedge.preprocess.reference."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmedge.preprocess.image import source_planes
from mmedge.preprocess.image_formats import (
    INTERPOLATIONS,
    PACKED_422,
    colour_matrix,
    yuv_coefficients,
)
from mmedge.preprocess.image_spec import ImageSpec


def linear_taps(dst_size: int, src_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w) per destination index in OpenCV's INTER_LINEAR convention: source coordinate
    (d + 0.5) * src/dst - 0.5 rounded to float32 as cv::resize does, clamped at the edges."""
    scale = 1.0 / (dst_size / src_size)
    f = ((np.arange(dst_size) + 0.5) * scale - 0.5).astype(np.float32).astype(np.float64)
    i0 = np.floor(f).astype(np.int64)
    w = f - i0
    return _clamp_taps(i0, w, src_size)


def area_upscale_taps(dst_size: int, src_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_AREA on an enlarged axis: tap floor(d * s) and its neighbour, weighted by
    how much of output pixel d overlaps the next source pixel."""
    inv = dst_size / src_size
    scale = 1.0 / inv
    d = np.arange(dst_size)
    i0 = np.floor(d * scale).astype(np.int64)
    w = ((d + 1) - (i0 + 1) * inv).astype(np.float32).astype(np.float64)
    w = np.where(w <= 0, 0.0, w - np.floor(w))
    return _clamp_taps(i0, w, src_size)


def _clamp_taps(
    i0: np.ndarray, w: np.ndarray, src_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    low = i0 < 0
    i0[low], w[low] = 0, 0.0
    high = i0 >= src_size - 1
    i0[high], w[high] = src_size - 1, 0.0
    return i0, np.minimum(i0 + 1, src_size - 1), w


def two_tap_matrix(i0: np.ndarray, i1: np.ndarray, w: np.ndarray, src_size: int) -> np.ndarray:
    """(dst, src) resampling matrix of two-tap weights."""
    m = np.zeros((len(i0), src_size))
    np.add.at(m, (np.arange(len(i0)), i0), 1.0 - w)
    np.add.at(m, (np.arange(len(i0)), i1), w)
    return m


def area_matrix(dst_size: int, src_size: int) -> np.ndarray:
    """(dst, src) weights of cv::resize INTER_AREA on a reduced axis: each output pixel is the
    mean of the source span [d * s, (d + 1) * s), partial pixels weighted by their overlap."""
    scale = src_size / dst_size
    m = np.zeros((dst_size, src_size))
    for d in range(dst_size):
        f1, f2 = d * scale, d * scale + scale
        cell = min(scale, src_size - f1)
        s1, s2 = int(np.ceil(f1)), min(int(np.floor(f2)), src_size - 1)
        s1 = min(s1, s2)
        if s1 - f1 > 1e-3:
            m[d, s1 - 1] = (s1 - f1) / cell
        m[d, s1:s2] = 1.0 / cell
        if f2 - s2 > 1e-3:
            m[d, s2] = min(f2 - s2, 1.0, cell) / cell
    return m


def antialias_matrix(dst_size: int, src_size: int) -> np.ndarray:
    """(dst, src) weights of PIL's BILINEAR resize (= torchvision antialias=True): a triangle
    of half-width max(s, 1) source pixels around each output centre, normalised."""
    scale = src_size / dst_size
    support = max(scale, 1.0)
    m = np.zeros((dst_size, src_size))
    for d in range(dst_size):
        centre = (d + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), src_size)
        x = (np.arange(lo, hi) - centre + 0.5) / support
        w = np.clip(1.0 - np.abs(x), 0.0, None)
        if w.sum() > 0:
            m[d, lo:hi] = w / w.sum()
    return m


def pil_matrix(dst_size: int, src_size: int, support: float, kernel: Any) -> np.ndarray:
    """(dst, src) weights of PIL's resampling with `kernel` of half-width `support`, widened by
    the reduction factor (PIL BICUBIC = torchvision antialias=True bicubic)."""
    scale = src_size / dst_size
    filterscale = max(scale, 1.0)
    m = np.zeros((dst_size, src_size))
    for d in range(dst_size):
        centre = (d + 0.5) * scale
        lo = max(int(centre - support * filterscale + 0.5), 0)
        hi = min(int(centre + support * filterscale + 0.5), src_size)
        w = kernel((np.arange(lo, hi) - centre + 0.5) / filterscale)
        if w.sum() != 0:
            m[d, lo:hi] = w / w.sum()
    return m


def keys_cubic(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter a (PIL: -0.5, OpenCV: -0.75)."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def cubic_matrix(dst_size: int, src_size: int) -> np.ndarray:
    """(dst, src) weights of cv::resize INTER_CUBIC: four taps around the float32 coordinate
    (d + 0.5) * s - 0.5, a = -0.75, edge taps clamped to the edge pixel."""
    scale = 1.0 / (dst_size / src_size)
    f = ((np.arange(dst_size) + 0.5) * scale - 0.5).astype(np.float32).astype(np.float64)
    m = np.zeros((dst_size, src_size))
    for d, fd in enumerate(f):
        i = int(np.floor(fd))
        for k in range(-1, 3):
            m[d, min(max(i + k, 0), src_size - 1)] += keys_cubic(np.array(fd - (i + k)), -0.75)
    return m


def nearest_matrix(dst_size: int, src_size: int, exact: bool) -> np.ndarray:
    """One-hot (dst, src) rows: OpenCV INTER_NEAREST picks floor(d * s); INTER_NEAREST_EXACT
    and PIL NEAREST the pixel under the centre, accumulated from s / 2 in steps of s."""
    m = np.zeros((dst_size, src_size))
    if exact:
        step, centre = src_size / dst_size, src_size / dst_size * 0.5
        for d in range(dst_size):
            m[d, min(int(centre), src_size - 1)] = 1.0
            centre += step
    else:
        scale = 1.0 / (dst_size / src_size)
        for d in range(dst_size):
            m[d, min(int(np.floor(d * scale)), src_size - 1)] = 1.0
    return m


def axis_matrix(mode: str, dst_size: int, src_size: int, both_reduced: bool) -> np.ndarray:
    if mode == "bilinear":
        return two_tap_matrix(*linear_taps(dst_size, src_size), src_size)
    if mode == "bilinear_antialias":
        return antialias_matrix(dst_size, src_size)
    if mode == "bicubic_antialias":
        return pil_matrix(dst_size, src_size, 2.0, lambda x: keys_cubic(x, -0.5))
    if mode == "bicubic":
        return cubic_matrix(dst_size, src_size)
    if mode in ("nearest", "nearest_exact"):
        return nearest_matrix(dst_size, src_size, mode == "nearest_exact")
    if both_reduced:  # OpenCV: true area averaging only when no axis is enlarged
        return area_matrix(dst_size, src_size)
    return two_tap_matrix(*area_upscale_taps(dst_size, src_size), src_size)


def source_values(frame: Any, spec: ImageSpec) -> np.ndarray:
    """(H, W, V) float64 values of every source pixel: packed channels, or R, G, B, Y for the
    YUV formats (chroma shared by each 2x2 block (4:2:0) or pixel pair (4:2:2); the spec's
    matrix and range; clamped to 0..255)."""
    fmt, planes = source_planes(frame, spec)
    if fmt == "packed":
        return planes[0].astype(np.float64)
    if spec.input_format in PACKED_422:
        pixels = planes[0].astype(np.float64)
        pairs = pixels.reshape(pixels.shape[0], -1, 4)  # two pixels of two bytes
        y_channel, u_byte, v_byte = (0, 1, 3) if spec.input_format == "YUYV" else (1, 0, 2)
        y = pixels[:, :, y_channel]
        u = np.repeat(pairs[:, :, u_byte] - 128, 2, axis=1)
        v = np.repeat(pairs[:, :, v_byte] - 128, 2, axis=1)
    else:
        y = planes[0].astype(np.float64)
        if fmt == "NV12":
            u, v = planes[1][..., 0], planes[1][..., 1]
        else:
            u, v = planes[1], planes[2]
        u = np.repeat(np.repeat(u.astype(np.float64) - 128, 2, axis=0), 2, axis=1)
        v = np.repeat(np.repeat(v.astype(np.float64) - 128, 2, axis=0), 2, axis=1)
    y_offset, y_scale, vr, ug, vg, ub = yuv_coefficients(spec.yuv_matrix, spec.yuv_range)
    luma = np.maximum(y - y_offset, 0) * y_scale
    rgb = [luma + vr * v, luma + ug * u + vg * v, luma + ub * u]
    return np.stack([*(np.clip(c, 0, 255) for c in rgb), y], axis=-1)


def image(frame: Any, spec: ImageSpec) -> np.ndarray:
    """The float64 (1, C, H, W) tensor that mmedge.preprocess.image computes: horizontal pass,
    then vertical (the order PIL and OpenCV use, which matters where cubic modes saturate)."""
    values = source_values(frame, spec)
    src_h, src_w = values.shape[:2]
    x, y, rw, rh = spec.resize_region(src_w, src_h)
    full_w, full_h, ox, oy = spec.resize_window(src_w, src_h)
    full_w, full_h = full_w or rw, full_h or rh
    both_reduced = src_w >= full_w and src_h >= full_h
    my = axis_matrix(spec.interpolation, full_h, src_h, both_reduced)[oy : oy + rh]
    mx = axis_matrix(spec.interpolation, full_w, src_w, both_reduced)[ox : ox + rw]
    cubic = spec.interpolation in ("bicubic", "bicubic_antialias")
    cols = np.tensordot(values, mx, axes=([1], [1])).transpose(0, 2, 1)  # (src_h, rw, V)
    if spec.interpolation == "bicubic_antialias":  # PIL saturates between the passes
        cols = np.clip(cols, 0, 255)
    resized = np.tensordot(my, cols, axes=([1], [0]))  # (rh, rw, V)
    if cubic:
        resized = np.clip(resized, 0, 255)
    alpha, beta = (np.asarray(a) for a in spec.affine())
    mapped = resized @ colour_matrix(spec.input_format, spec.output_format).T
    normalised = mapped * alpha + beta
    tw, th = spec.tensor_size(src_w, src_h)
    out = np.empty((th, tw, spec.channels))
    out[:] = np.asarray(spec.pad_value) * alpha + beta
    out[y : y + rh, x : x + rw] = normalised
    return out.transpose(2, 0, 1)[None]


__all__ = ["INTERPOLATIONS", "axis_matrix", "image", "linear_taps", "source_values"]
