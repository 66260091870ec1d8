"""CUDA device arrays and the CUDA preprocessing path.

Any object with `__cuda_array_interface__` (CuPy, PyTorch CUDA tensors, pycuda's GPUArray,
numba, or mmedge's own `DeviceArray`) can be passed to `mmedge.preprocess.image`; the kernel
reads it in place and writes into a device `out` (for example a TensorRT binding), so only the
raw frame crosses the bus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import BackendError, PreprocessError
from mmedge.preprocess.image_formats import (
    PACKED,
    PACKED_422,
    YUV_FORMATS,
    kernel_arguments,
    kernel_yuv,
)

_HOST_TO_DEVICE, _DEVICE_TO_HOST = 1, 2


def is_available() -> bool:
    """True when this build has the CUDA kernels and a CUDA device is present."""
    return bool(C.cuda_compiled) and C.cuda_device_count() > 0


def _require() -> None:
    if not C.cuda_compiled:
        raise BackendError(
            "this build of mmedge._C has no CUDA kernels; rebuild on a machine with nvcc "
            "(MMEDGE_CUDA=1 pip install .)"
        )
    if C.cuda_device_count() == 0:
        raise BackendError("no CUDA device is available (no driver, or no GPU visible)")


@dataclass(frozen=True)
class DeviceView:
    """What __cuda_array_interface__ says about an array: pointer, shape, byte strides."""

    ptr: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: np.dtype
    stream: int


def device_view(obj: Any) -> DeviceView:
    """Reads obj.__cuda_array_interface__ (version 2 or 3)."""
    cai = obj.__cuda_array_interface__
    dtype = np.dtype(cai["typestr"])
    shape = tuple(int(s) for s in cai["shape"])
    strides = cai.get("strides")
    if strides is None:  # C-contiguous
        strides_list, step = [], dtype.itemsize
        for size in reversed(shape):
            strides_list.append(step)
            step *= size
        strides = tuple(reversed(strides_list))
    stream = cai.get("stream") or 0
    return DeviceView(
        int(cai["data"][0]), shape, tuple(int(s) for s in strides), dtype, int(stream)
    )


class DeviceArray:
    """A C-contiguous array in CUDA device memory, freed when garbage-collected."""

    def __init__(self, shape: tuple[int, ...], dtype: Any = np.float32) -> None:
        _require()
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self._allocation = C.DeviceAllocation(self.nbytes)

    @property
    def ptr(self) -> int:
        return int(self._allocation.ptr)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.ptr, False),
            "strides": None,
            "version": 3,
        }

    @classmethod
    def from_host(cls, array: np.ndarray) -> DeviceArray:
        """Copies a host array to a new device array (made C-contiguous first)."""
        host = np.ascontiguousarray(array)
        dev = cls(host.shape, host.dtype)
        if dev.nbytes:
            C.cuda_copy(dev.ptr, host.ctypes.data, dev.nbytes, _HOST_TO_DEVICE)
        return dev

    def to_host(self) -> np.ndarray:
        """Copies the array back into a new host array (waits for the copy)."""
        host = np.empty(self.shape, self.dtype)
        if self.nbytes:
            C.cuda_copy(host.ctypes.data, self.ptr, self.nbytes, _DEVICE_TO_HOST)
        return host


def _plane_desc(ptr: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
    return C.PlaneDesc(ptr, list(shape), list(strides))


def _device_planes(view: DeviceView, spec: Any, batched: bool) -> tuple[str, list[Any], int]:
    """(plane layout, PlaneDesc list, bytes between images) of one device frame, or of image 0
    of an (N, ...) batch."""
    shape, strides, image_stride = view.shape, view.strides, 0
    if batched:
        if not shape or shape[0] < 1:
            raise PreprocessError(f"a device batch needs shape (N, ...), got {shape}")
        image_stride, shape, strides = strides[0], shape[1:], strides[1:]
    if spec.input_format in PACKED_422:
        if len(shape) != 3 or shape[2] != 2 or shape[1] % 2:
            raise PreprocessError(
                f"a device {spec.input_format} frame must have shape (H, W, 2) with even W, "
                f"got {shape}"
            )
        return spec.input_format, [_plane_desc(view.ptr, shape, strides)], image_stride
    if spec.input_format in YUV_FORMATS:
        if len(shape) != 2 or shape[0] % 3 or shape[1] % 2:
            raise PreprocessError(
                f"a device {spec.input_format} frame must have shape (H * 3/2, W), got {shape}"
            )
        h, w = shape[0] * 2 // 3, shape[1]
        rs, cs = strides
        y = _plane_desc(view.ptr, (h, w), (rs, cs))
        chroma = view.ptr + h * rs
        if spec.input_format == "NV12":
            uv = _plane_desc(chroma, (h // 2, w // 2, 2), (rs, 2 * cs, cs))
            return "NV12", [y, uv], image_stride
        if spec.input_format == "NV21":  # V, U pairs read from U backwards (as on the host)
            uv = _plane_desc(chroma + cs, (h // 2, w // 2, 2), (rs, 2 * cs, -cs))
            return "NV12", [y, uv], image_stride
        if rs != w * cs:
            raise PreprocessError(f"a device {spec.input_format} frame must have unpadded rows")
        n = (h // 2) * (w // 2) * cs
        first = _plane_desc(chroma, (h // 2, w // 2), (w // 2 * cs, cs))
        second = _plane_desc(chroma + n, (h // 2, w // 2), (w // 2 * cs, cs))
        u, v = (second, first) if spec.input_format == "YV12" else (first, second)
        return "I420", [y, u, v], image_stride
    if len(shape) == 2:
        shape, strides = (*shape, 1), (*strides, 1)
    if len(shape) != 3:
        raise PreprocessError(f"device image must have rank 2 or 3, got shape {view.shape}")
    if shape[2] != spec.input_channels:
        raise PreprocessError(
            f"device image has {shape[2]} channels, spec.input_format {spec.input_format} "
            f"expects {spec.input_channels}"
        )
    return PACKED, [_plane_desc(view.ptr, shape, strides)], image_stride


def _launch(
    img: Any, spec: Any, out: Any, stream: int | None, batched: bool, fill_border: bool = True
) -> Any:
    _require()
    if isinstance(img, (tuple, list)):
        raise PreprocessError(
            "device YUV frames are taken as one (H * 3/2, W) array (NV12 may have pitched rows); "
            "separate device planes are not supported"
        )
    if spec.letterbox_auto:
        raise PreprocessError(
            "letterbox_auto (a frame-dependent tensor size) runs on host frames only"
        )
    src = device_view(img)
    if src.dtype != np.uint8:
        raise PreprocessError(f"device image dtype must be uint8, got {src.dtype}")
    fmt, planes, image_stride = _device_planes(src, spec, batched)
    n = src.shape[0] if batched else 1
    if out is None:
        out = DeviceArray((n, *spec.output_shape), spec.dtype)
        fill_border = True
    dst = device_view(out)
    if dst.shape not in ((n, *spec.output_shape),) + (() if batched else (spec.output_shape,)):
        raise PreprocessError(f"out has shape {dst.shape}, expected {(n, *spec.output_shape)}")
    if dst.dtype != np.dtype(spec.dtype):
        raise PreprocessError(f"out dtype is {dst.dtype}, spec.dtype is {spec.dtype}")
    h, w = _frame_size(src, spec, batched)
    weight, bias, pad = kernel_arguments(spec)
    try:
        C.resize_normalize_cuda(
            format=fmt,
            planes=planes,
            out_ptr=dst.ptr,
            out_dtype=spec.dtype,
            out_shape=list(spec.output_shape),
            out_strides=list(dst.strides[-3:]),
            weight=weight,
            bias=bias,
            pad=pad,
            roi=spec.resize_region(w, h),
            interpolation=spec.interpolation,
            batch=n,
            src_image_stride=image_stride,
            dst_image_stride=dst.strides[0] if len(dst.shape) == 4 else 0,
            stream=src.stream if stream is None else stream,
            fill_border=fill_border,
            window=spec.resize_window(w, h),
            yuv=kernel_yuv(spec),
        )
    except ValueError as exc:
        raise PreprocessError(str(exc)) from exc
    return out


def _frame_size(src: DeviceView, spec: Any, batched: bool) -> tuple[int, int]:
    shape = src.shape[1:] if batched else src.shape
    if spec.input_format in YUV_FORMATS and spec.input_format not in PACKED_422:
        return shape[0] * 2 // 3, shape[1]
    return shape[0], shape[1]


def preprocess_image(
    img: Any, spec: Any, out: Any = None, stream: int | None = None, fill_border: bool = True
) -> Any:
    """mmedge.preprocess.image for one device frame: uint8 (H, W, C) / (H, W), or
    (H * 3/2, W) for NV12/I420; (1, C, H, W) device array of spec.dtype out (a new DeviceArray
    unless `out` is given). Launched on `stream` (default: the input's CAI stream, else the
    default stream); returns without waiting for the kernel."""
    return _launch(img, spec, out, stream, batched=False, fill_border=fill_border)


def preprocess_batch(
    frames: Any, spec: Any, out: Any = None, stream: int | None = None, fill_border: bool = True
) -> Any:
    """N same-size device frames, (N, H, W, C) or (N, H * 3/2, W), into one (N, C, H, W) device
    tensor in a single launch (e.g. straight into a TensorRT input binding)."""
    return _launch(frames, spec, out, stream, batched=True, fill_border=fill_border)


_AUDIO_EXTRACTORS: dict[Any, Any] = {}


def audio_features(
    samples: Any, spec: Any, feature: str = "mfcc", stream: int | None = None
) -> DeviceArray:
    """MFCC or log-mel of device signals: float32 (n,) or (batch, n) device array in,
    (frames, coeffs) or (batch, frames, coeffs) DeviceArray out. The same definitions as the CPU
    kernels (mmedge.preprocess.mfcc / logmel), librosa's top_db per signal."""
    _require()
    if feature not in ("mfcc", "logmel"):
        raise PreprocessError(f"feature must be 'mfcc' or 'logmel', got {feature!r}")
    view = device_view(samples)
    if view.dtype != np.float32:
        raise PreprocessError(f"device samples must be float32, got {view.dtype}")
    if len(view.shape) not in (1, 2):
        raise PreprocessError(f"device samples must be (n,) or (batch, n), got {view.shape}")
    if view.strides[-1] != 4:
        raise PreprocessError("device samples must be contiguous along time")
    batched = len(view.shape) == 2
    batch, n = view.shape if batched else (1, view.shape[0])
    ex = _AUDIO_EXTRACTORS.get(spec)
    if ex is None:
        ex = _AUDIO_EXTRACTORS[spec] = C.CudaFeatureExtractor(spec.kernel_params())
    frames = spec.num_frames(n)
    logmel = DeviceArray((batch, frames, spec.n_mels), np.float32)
    mfcc = DeviceArray((batch, frames, spec.n_mfcc), np.float32) if feature == "mfcc" else None
    try:
        ex.compute(
            view.ptr,
            n,
            batch,
            view.strides[0] // 4 if batched else n,
            logmel.ptr,
            mfcc.ptr if mfcc is not None else 0,
            spec.top_db or 0.0,
            view.stream if stream is None else stream,
        )
    except ValueError as exc:
        raise PreprocessError(str(exc)) from exc
    out = mfcc if mfcc is not None else logmel
    if not batched:
        out.shape = out.shape[1:]
    return out
