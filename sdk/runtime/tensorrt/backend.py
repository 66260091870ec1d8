"""TensorRT backend (TensorRT 10 and 11): a raw plan file, execute_async_v3 with tensor addresses
set by name, device buffers through cuda-python.

Inputs may be host arrays (copied in on the backend's stream) or device arrays exposing
__cuda_array_interface__ (CuPy, PyTorch, pycuda, mmedge.preprocess.cuda.DeviceArray: used in
place, no copy). Outputs are copied back to host arrays once, after the launch.

Written against the TensorRT 10/11 Python API (ICudaEngine.num_io_tensors, get_tensor_name/
mode/dtype, IExecutionContext.set_input_shape/set_tensor_address/execute_async_v3); verified on
real hardware by users: CI machines carry no TensorRT (tests skip with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import BackendError
from mmedge.runtime.backends.base import TensorInfo
from mmedge.runtime.tensorrt.engine import (
    EngineTarget,
    engine_problems,
    jetpack_release,
    l4t_release,
)


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(
            "TensorRT is not installed: pip install 'mmedge[tensorrt]' on an x86 machine with an "
            "NVIDIA GPU; on Jetson it comes with JetPack (python3-libnvinfer)"
        ) from exc
    major = int(tensorrt.__version__.split(".")[0])
    if major < 10:
        raise BackendError(
            f"TensorRT {tensorrt.__version__} is too old: mmedge needs TensorRT 10 or 11 "
            "(execute_async_v3, strongly typed networks)"
        )
    return tensorrt


def import_cudart() -> Any:
    """cuda-python's runtime module (cuda.bindings.runtime in 12.6+, cuda.cudart before)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[no-redef]
        except ImportError as exc:
            raise BackendError(
                "the TensorRT backend needs cuda-python: pip install 'mmedge[tensorrt]'"
            ) from exc
    return cudart


def check_cuda(result: Any, what: str) -> Any:
    """Unpacks a cuda-python (err, value...) tuple, raising BackendError on an error code."""
    cudart = import_cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(err)
        raise BackendError(
            f"CUDA error in {what}: {name.decode() if isinstance(name, bytes) else name}"
        )
    return values[0] if len(values) == 1 else tuple(values)


def current_target(device_id: int = 0) -> EngineTarget:
    """This machine as an engine target: TensorRT version, GPU, compute capability, CUDA
    runtime, Jetson L4T / JetPack release."""
    trt = import_tensorrt()
    cudart = import_cudart()
    props = check_cuda(cudart.cudaGetDeviceProperties(device_id), "cudaGetDeviceProperties")
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    version = check_cuda(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion")
    return EngineTarget(
        tensorrt=trt.__version__,
        gpu=name.strip("\x00 "),
        compute_capability=f"{props.major}.{props.minor}",
        jetpack=jetpack_release(),
        l4t=l4t_release(),
        cuda=f"{version // 1000}.{(version % 1000) // 10}",
    )


def engine_problems_here(artifact: Any, device_id: int = 0) -> list[str]:
    """Why a bundle's engine (an Artifact with built_for) cannot run on this machine; empty
    when it can."""
    if not artifact.built_for:
        return ["the manifest does not say what the engine was built for"]
    return engine_problems(EngineTarget.from_dict(artifact.built_for), current_target(device_id))


class _DeviceBuffer:
    def __init__(self) -> None:
        self.ptr = 0
        self.nbytes = 0

    def ensure(self, nbytes: int) -> int:
        cudart = import_cudart()
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(check_cuda(cudart.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            import_cudart().cudaFree(self.ptr)
            self.ptr, self.nbytes = 0, 0


def _device_pointer(array: Any, expected: np.dtype, name: str) -> tuple[int, tuple[int, ...]]:
    cai = array.__cuda_array_interface__
    if np.dtype(cai["typestr"]) != expected:
        raise BackendError(f"input {name!r} must be {expected}, got {np.dtype(cai['typestr'])}")
    shape = tuple(int(d) for d in cai["shape"])
    strides = cai.get("strides")
    if strides is not None:
        item = expected.itemsize
        dense = tuple(int(np.prod(shape[i + 1 :])) * item for i in range(len(shape)))
        if tuple(strides) != dense:
            raise BackendError(f"device input {name!r} must be C-contiguous (strides {strides})")
    return int(cai["data"][0]), shape


class TensorRTBackend:
    """Runs a TensorRT plan. device_id: the GPU. One execution context and one CUDA stream;
    not thread-safe (one backend per worker thread)."""

    name = "tensorrt"

    def __init__(self, plan_path: str | Path, *, device_id: int = 0) -> None:
        trt = import_tensorrt()
        cudart = import_cudart()
        self._trt = trt
        check_cuda(cudart.cudaSetDevice(device_id), "cudaSetDevice")
        self.plan_path = Path(plan_path)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.plan_path.read_bytes())
        if self._engine is None:
            raise BackendError(
                f"TensorRT {trt.__version__} could not deserialize {self.plan_path}: built by "
                "another TensorRT version or for another GPU? Rebuild it with mmedge build-engine"
            )
        self._context = self._engine.create_execution_context()
        self._stream = check_cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._inputs: list[TensorInfo] = []
        self._outputs: list[TensorInfo] = []
        for i in range(self._engine.num_io_tensors):
            tname = self._engine.get_tensor_name(i)
            info = TensorInfo(
                tname,
                tuple(int(d) if d >= 0 else None for d in self._engine.get_tensor_shape(tname)),
                np.dtype(trt.nptype(self._engine.get_tensor_dtype(tname))),
            )
            is_input = self._engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT
            (self._inputs if is_input else self._outputs).append(info)
        self._buffers = {t.name: _DeviceBuffer() for t in [*self._inputs, *self._outputs]}
        self._device_id = device_id

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def infer(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Host or device inputs by name -> host outputs by name (one sync at the end)."""
        cudart = import_cudart()
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        expected = {t.name for t in self._inputs}
        if set(feeds) != expected:
            raise BackendError(f"infer needs inputs {sorted(expected)}, got {sorted(feeds)}")
        keep_alive = []
        for info in self._inputs:
            value = feeds[info.name]
            if hasattr(value, "__cuda_array_interface__"):
                ptr, shape = _device_pointer(value, info.dtype, info.name)
            else:
                host = np.ascontiguousarray(value)
                if host.dtype != info.dtype:
                    raise BackendError(
                        f"input {info.name!r} must be {info.dtype}, got {host.dtype}"
                    )
                shape = host.shape
                ptr = self._buffers[info.name].ensure(host.nbytes)
                check_cuda(
                    cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, self._stream),
                    "cudaMemcpyAsync (input)",
                )
                keep_alive.append(host)
            if not self._context.set_input_shape(info.name, tuple(shape)):
                raise BackendError(
                    f"input {info.name!r} shape {tuple(shape)} is outside the engine's "
                    "optimisation profile; rebuild it with mmedge build-engine --max-batch ..."
                )
            self._context.set_tensor_address(info.name, ptr)
        results: dict[str, np.ndarray] = {}
        for info in self._outputs:
            shape = tuple(int(d) for d in self._context.get_tensor_shape(info.name))
            host = np.empty(shape, dtype=info.dtype)
            ptr = self._buffers[info.name].ensure(host.nbytes)
            self._context.set_tensor_address(info.name, ptr)
            results[info.name] = host
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendError(f"TensorRT execute_async_v3 failed for {self.plan_path.name}")
        for info in self._outputs:
            host = results[info.name]
            check_cuda(
                cudart.cudaMemcpyAsync(
                    host.ctypes.data, self._buffers[info.name].ptr, host.nbytes, d2h, self._stream
                ),
                "cudaMemcpyAsync (output)",
            )
        check_cuda(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        del keep_alive
        return results

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "tensorrt",
            "version": self._trt.__version__,
            "providers": [f"TensorRT (GPU {self._device_id})"],
            "model": str(self.plan_path),
        }

    def close(self) -> None:
        for buffer in getattr(self, "_buffers", {}).values():
            buffer.free()
        if getattr(self, "_stream", None) is not None:
            import_cudart().cudaStreamDestroy(self._stream)
            self._stream = None
        self._context = None
        self._engine = None
