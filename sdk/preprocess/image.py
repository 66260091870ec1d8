"""Image preprocessing: `image()` applies an `ImageSpec` in one pass of the C++ kernel (CPU) or
the CUDA kernel (when the input is a device array): resize (OpenCV INTER_LINEAR or INTER_AREA, or
PIL/torchvision antialiased bilinear), optional letterbox, colour conversion (BGR, RGB, BGRA,
RGBA, GRAY, the 4:2:0 camera formats NV12, NV21, I420 and YV12 and the 4:2:2 formats YUYV and
UYVY), `(x * scale - mean) / std`, HWC -> NCHW, float32 or float16.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess import cuda
from mmedge.preprocess.image_formats import (
    PACKED,
    PACKED_422,
    PLANE_LAYOUT,
    kernel_arguments,
    kernel_yuv,
)

if TYPE_CHECKING:
    from mmedge.preprocess.image_spec import ImageSpec


def _check_uint8(a: Any, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise PreprocessError(f"{what} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.uint8:
        raise PreprocessError(f"{what} dtype must be uint8, got {a.dtype}")
    return a


def _packed_planes(img: Any, spec: ImageSpec, what: str) -> list[np.ndarray]:
    img = _check_uint8(img, what)
    if img.ndim == 2:
        if spec.input_channels != 1:
            raise PreprocessError(
                f"{what} has shape {img.shape} (one channel), but spec.input_format "
                f"{spec.input_format} expects {spec.input_channels} channels"
            )
        img = img[:, :, None]
    elif img.ndim != 3:
        raise PreprocessError(
            f"{what} must have rank 2 (H, W) or 3 (H, W, C), got shape {img.shape}"
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise PreprocessError(f"{what} is empty: {img.shape[0]}x{img.shape[1]} px")
    if img.shape[2] != spec.input_channels:
        raise PreprocessError(
            f"{what} has {img.shape[2]} channels, spec.input_format {spec.input_format} "
            f"expects {spec.input_channels}"
        )
    return [img]


def _yuv_planes(frame: Any, fmt: str, what: str) -> list[np.ndarray]:
    """The planes of a 4:2:0 frame in its kernel layout (PLANE_LAYOUT): one (H * 3/2, W) array
    as OpenCV and most decoders lay it out, or the planes themselves in memory order: (Y, UV)
    for NV12, (Y, VU) for NV21, (Y, U, V) for I420, (Y, V, U) for YV12."""
    layout = PLANE_LAYOUT[fmt]
    if isinstance(frame, (tuple, list)):
        planes = [_check_uint8(p, f"{what} plane {i}") for i, p in enumerate(frame)]
        want = 2 if layout == "NV12" else 3
        if len(planes) != want:
            raise PreprocessError(f"{what}: {fmt} takes {want} planes, got {len(planes)}")
        if layout == "NV12" and planes[1].ndim == 2:  # (H/2, W) interleaved chroma rows
            uv = planes[1]
            if uv.shape[1] % 2:
                raise PreprocessError(
                    f"{what}: UV plane of shape {uv.shape} is not interleaved pairs"
                )
            if uv.strides[1] != 1:  # a strided or reversed view: the pairs are not adjacent
                uv = np.ascontiguousarray(uv)
            planes[1] = np.lib.stride_tricks.as_strided(
                uv, (uv.shape[0], uv.shape[1] // 2, 2), (uv.strides[0], 2, 1)
            )
        return _in_uv_order(planes, fmt)
    frame = _check_uint8(frame, what)
    if frame.ndim != 2 or frame.shape[0] % 3 or frame.shape[1] % 2:
        raise PreprocessError(
            f"{what}: a single-array {fmt} frame must have shape (H * 3/2, W) with even H and W, "
            f"got {frame.shape}"
        )
    h, w = frame.shape[0] * 2 // 3, frame.shape[1]
    if h == 0 or w == 0:
        raise PreprocessError(f"{what} is empty: {h}x{w} px")
    if frame.strides[1] != 1 or (layout == "I420" and not frame.flags.c_contiguous):
        # A strided or reversed column view (f[:, ::2], f[:, ::-1]): the chroma planes below are
        # views that assume adjacent bytes, so take the bytes as they are meant first (a copy).
        frame = np.ascontiguousarray(frame)
    y = frame[:h]
    if layout == "NV12":
        uv = frame[h:]
        pairs = np.lib.stride_tricks.as_strided(uv, (h // 2, w // 2, 2), (uv.strides[0], 2, 1))
        return _in_uv_order([y, pairs], fmt)
    chroma = frame[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    first, second = chroma[:n].reshape(h // 2, w // 2), chroma[n:].reshape(h // 2, w // 2)
    return _in_uv_order([y, first, second], fmt)


def _in_uv_order(planes: list[np.ndarray], fmt: str) -> list[np.ndarray]:
    """Memory-order planes -> the U-first order the kernel layouts read."""
    if fmt == "NV21":  # V, U pairs: the reversed view of each pair is U, V
        return [planes[0], planes[1][..., ::-1]]
    if fmt == "YV12":
        return [planes[0], planes[2], planes[1]]
    return planes


def source_planes(frame: Any, spec: ImageSpec, what: str = "image") -> tuple[str, list[Any]]:
    """(format code, planes) of a host frame, checked against the spec."""
    if spec.input_format in PACKED_422:
        frame = _check_uint8(frame, what)
        if frame.ndim != 3 or frame.shape[2] != 2 or frame.shape[1] % 2:
            raise PreprocessError(
                f"{what}: a {spec.input_format} frame must have shape (H, W, 2) with even W, "
                f"got {frame.shape}"
            )
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise PreprocessError(f"{what} is empty: {frame.shape[0]}x{frame.shape[1]} px")
        return spec.input_format, [frame]
    if spec.input_format in PLANE_LAYOUT:
        return PLANE_LAYOUT[spec.input_format], _yuv_planes(frame, spec.input_format, what)
    return PACKED, _packed_planes(frame, spec, what)


def _check_out(out: Any, shape: tuple[int, ...], spec: ImageSpec) -> None:
    if not isinstance(out, np.ndarray):
        raise PreprocessError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise PreprocessError(f"out has shape {out.shape}, expected {shape} ({spec.layout})")
    if out.dtype != np.dtype(spec.dtype):
        raise PreprocessError(f"out dtype is {out.dtype}, spec.dtype is {spec.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise PreprocessError("out must be C-contiguous and writeable")


def run_cpu(
    frame: Any, spec: ImageSpec, out_chw: np.ndarray, what: str = "image", fill_border: bool = True
) -> None:
    """Runs the CPU kernel for one host frame into a (C, H, W) array of the frame's tensor
    size (ImageSpec.tensor_size)."""
    fmt, planes = source_planes(frame, spec, what)
    height, width = planes[0].shape[:2]
    weight, bias, pad = kernel_arguments(spec)
    roi, window = kernel_geometry(spec, width, height)
    try:
        C.resize_normalize(
            fmt,
            planes,
            out_chw,
            weight,
            bias,
            pad,
            roi,
            spec.interpolation,
            fill_border,
            window,
            kernel_yuv(spec),
        )
    except ValueError as exc:  # the kernel's own argument check
        raise PreprocessError(f"{what}: {exc}") from exc


@lru_cache(maxsize=256)
def kernel_geometry(
    spec: ImageSpec, width: int, height: int
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(resize region, resize window) of a width x height px frame, cached: a camera sends
    one frame size, and the letterbox arithmetic costs ~2 us a frame."""
    return spec.resize_region(width, height), spec.resize_window(width, height)


def frame_size(img: Any, spec: ImageSpec) -> tuple[int, int]:
    """(width, height) px of a host frame in spec.input_format."""
    _, planes = source_planes(img, spec)
    return planes[0].shape[1], planes[0].shape[0]


def image(img: Any, spec: ImageSpec, out: Any = None, fill_border: bool = True) -> Any:
    """Preprocesses one frame into a (1, C, H, W) tensor.

    img: a uint8 frame in spec.input_format, any strides: (H, W, C) or (H, W) for packed
        formats; (H * 3/2, W) or the planes in memory order ((Y, UV), (Y, VU), (Y, U, V),
        (Y, V, U) for NV12, NV21, I420, YV12). A device array (__cuda_array_interface__) runs
        the CUDA kernel instead (see mmedge.preprocess.cuda).
    out: optional (1, C, H, W) (or (C, H, W)) array of spec.dtype to write into; returned.
    fill_border: False writes only the resize region: for an `out` that already holds the
        letterbox border from an earlier call with the same frame size (a camera loop reusing
        one input buffer saves rewriting the border every frame).
    Raises PreprocessError naming the problem (rank, dtype, channels, empty image, out shape).
    """
    if _on_device(img):
        return cuda.preprocess_image(img, spec, out, fill_border=fill_border)
    chw = spec.output_shape
    if spec.letterbox_auto:
        tw, th = spec.tensor_size(*frame_size(img, spec))
        chw = (spec.channels, th, tw)
    if out is None:
        out = np.empty((1, *chw), dtype=spec.dtype)
        fill_border = True
    elif getattr(out, "shape", None) == chw:
        _check_out(out, chw, spec)
        run_cpu(img, spec, out, fill_border=fill_border)
        return out
    _check_out(out, (1, *chw), spec)
    run_cpu(img, spec, out[0], fill_border=fill_border)
    return out


def _on_device(img: Any) -> bool:
    if isinstance(img, (tuple, list)):
        return bool(img) and hasattr(img[0], "__cuda_array_interface__")
    return hasattr(img, "__cuda_array_interface__")


def image_batch(images: Sequence[Any] | np.ndarray, spec: ImageSpec, out: Any = None) -> np.ndarray:
    """Preprocesses N frames (a sequence, or one (N, H, W, C) array) into one (N, C, H, W)
    tensor; frames may differ in size. `out`: optional (N, C, H, W) array."""
    n = len(images)
    if n == 0:
        raise PreprocessError("image_batch needs at least one image")
    chw = _auto_batch_shape(images, spec) if spec.letterbox_auto else spec.output_shape
    shape = (n, *chw)
    if out is None:
        out = np.empty(shape, dtype=spec.dtype)
    else:
        _check_out(out, shape, spec)
    for i in range(n):
        run_cpu(images[i], spec, out[i], what=f"image {i}")
    return out


def _auto_batch_shape(images: Sequence[Any] | np.ndarray, spec: ImageSpec) -> tuple[int, ...]:
    """letterbox_auto: (C, H, W) that every frame must give to share one batch."""
    sizes = {spec.tensor_size(*frame_size(images[i], spec)) for i in range(len(images))}
    if len(sizes) != 1:
        raise PreprocessError(
            f"letterbox_auto gives these frames different tensor sizes {sorted(sizes)} (px): "
            "batch frames of one aspect ratio"
        )
    tw, th = sizes.pop()
    return (spec.channels, th, tw)
