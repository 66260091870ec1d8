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


def preprocess_image(img: Any, spec: Any, out: Any = None, stream: int | None = None) -> Any:
    """mmedge.preprocess.image for a device frame: uint8 (H, W, C) or (H, W) device array in,
    (1, C, H, W) device array of spec.dtype out (a new DeviceArray unless `out` is given).
    Launched on `stream` (default: the input's CAI stream, else the default stream); returns
    without waiting for the kernel."""
    from mmedge.preprocess.image import channel_map

    _require()
    src = device_view(img)
    if src.dtype != np.uint8:
        raise PreprocessError(f"device image dtype must be uint8, got {src.dtype}")
    shape, strides = src.shape, src.strides
    if len(shape) == 2:
        shape, strides = (*shape, 1), (*strides, 1)
    if len(shape) != 3:
        raise PreprocessError(f"device image must have rank 2 or 3, got shape {src.shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise PreprocessError(f"device image is empty: {shape[0]}x{shape[1]} px")
    if shape[2] != spec.input_channels:
        raise PreprocessError(
            f"device image has {shape[2]} channels, spec.input_format {spec.input_format} "
            f"expects {spec.input_channels}"
        )
    if out is None:
        out = DeviceArray((1, *spec.output_shape), spec.dtype)
    dst = device_view(out)
    if dst.shape not in ((1, *spec.output_shape), spec.output_shape):
        raise PreprocessError(f"out has shape {dst.shape}, expected {(1, *spec.output_shape)}")
    if dst.dtype != np.dtype(spec.dtype):
        raise PreprocessError(f"out dtype is {dst.dtype}, spec.dtype is {spec.dtype}")
    alpha, beta = spec.affine()
    try:
        C.resize_normalize_cuda(
            src_ptr=src.ptr,
            src_shape=shape,
            src_strides=strides,
            out_ptr=dst.ptr,
            out_dtype=spec.dtype,
            out_shape=spec.output_shape,
            out_strides=dst.strides[-3:],
            src_channel=channel_map(spec.input_format, spec.output_format),
            alpha=alpha,
            beta=beta,
            pad=[0.0] * spec.channels,
            roi=(0, 0, spec.width, spec.height),
            stream=src.stream if stream is None else stream,
        )
    except ValueError as exc:
        raise PreprocessError(str(exc)) from exc
    return out
