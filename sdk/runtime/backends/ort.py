"""ONNX Runtime backend: TensorRT EP > CUDA EP > CPU, whichever this onnxruntime build has."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import BackendError
from mmedge.runtime.backends.base import TensorInfo

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}
_OPT_LEVELS = ("disable", "basic", "extended", "all")


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(
            "ONNX Runtime is not installed: pip install 'mmedge[ort]' (CPU) or "
            "'mmedge[ort-gpu]' (CUDA); on Jetson use the onnxruntime-gpu wheel for your JetPack"
        ) from exc
    return onnxruntime


def choose_providers(available: Sequence[str], requested: Sequence[str] | None = None) -> list[str]:
    """The providers to ask for, best first. `requested` (names) must all be available."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendError(
                f"ONNX Runtime providers {missing} are not available in this onnxruntime build "
                f"(available: {list(available)})"
            )
        return list(requested)
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    return chosen or list(available)


def _trt_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "mmedge", "ort-trt-cache")
    os.makedirs(path, exist_ok=True)
    return path


class OrtBackend:
    """ONNX Runtime session over one .onnx file.

    providers: provider names to use, in order; None = the best this build has
        (TensorRT EP > CUDA EP > CPU). The TensorRT EP keeps its engines in
        ~/.cache/mmedge/ort-trt-cache.
    intra_op_threads: threads per operator; None = ONNX Runtime's default (one per core).
    graph_optimization: disable | basic | extended | all.
    """

    name = "ort"

    def __init__(
        self,
        model_path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        graph_optimization: str = "all",
        device_id: int = 0,
    ) -> None:
        ort = import_onnxruntime()
        if graph_optimization not in _OPT_LEVELS:
            raise BackendError(
                f"graph_optimization must be one of {_OPT_LEVELS}, got {graph_optimization!r}"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization]
        if intra_op_threads is not None:
            options.intra_op_num_threads = int(intra_op_threads)
        options.log_severity_level = 3  # errors only: provider fallbacks are reported by describe()
        chosen = choose_providers(ort.get_available_providers(), providers)
        provider_args: list[Any] = []
        for p in chosen:
            if p == "TensorrtExecutionProvider":
                provider_args.append(
                    (
                        p,
                        {
                            "device_id": device_id,
                            "trt_engine_cache_enable": True,
                            "trt_engine_cache_path": _trt_cache_dir(),
                            "trt_timing_cache_enable": True,
                        },
                    )
                )
            elif p == "CUDAExecutionProvider":
                provider_args.append((p, {"device_id": device_id}))
            else:
                provider_args.append(p)
        self.model_path = Path(model_path)
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=provider_args
            )
        except Exception as exc:
            raise BackendError(f"ONNX Runtime could not load {self.model_path}: {exc}") from exc
        self.requested_providers = chosen
        self.providers = list(self._session.get_providers())
        if self.providers[:1] != chosen[:1]:
            log.warning(
                "ONNX Runtime fell back from %s to %s for %s",
                chosen[0],
                self.providers[0],
                self.model_path.name,
            )
        self._inputs = [self._info(t) for t in self._session.get_inputs()]
        self._outputs = [self._info(t) for t in self._session.get_outputs()]
        self._output_names = [t.name for t in self._outputs]
        self._intra_op_threads = intra_op_threads
        self._version = ort.__version__

    @staticmethod
    def _info(node: Any) -> TensorInfo:
        dtype = _ORT_DTYPES.get(node.type)
        if dtype is None:
            raise BackendError(f"tensor {node.name!r} has unsupported type {node.type}")
        return TensorInfo(node.name, tuple(node.shape), np.dtype(dtype))

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the model; feeds and results are host arrays keyed by tensor name."""
        expected = {t.name: t for t in self._inputs}
        if set(feeds) != set(expected):
            raise BackendError(f"infer needs inputs {sorted(expected)}, got {sorted(feeds)}")
        for name, array in feeds.items():
            info = expected[name]
            if array.dtype != info.dtype:
                raise BackendError(f"input {name!r} must be {info.dtype}, got {array.dtype}")
            if array.ndim != len(info.shape) or any(
                isinstance(d, int) and d != s for d, s in zip(info.shape, array.shape, strict=True)
            ):
                raise BackendError(
                    f"input {name!r} must have shape {info.shape}, got {array.shape}"
                )
        if self._session is None:
            raise BackendError(f"the ONNX Runtime session of {self.model_path.name} is closed")
        try:
            results = self._session.run(self._output_names, dict(feeds))
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime failed running {self.model_path.name}: {exc}"
            ) from exc
        return dict(zip(self._output_names, results, strict=True))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "onnxruntime",
            "version": self._version,
            "providers": self.providers,
            "requested_providers": self.requested_providers,
            "intra_op_threads": self._intra_op_threads,
            "model": str(self.model_path),
        }

    def close(self) -> None:
        self._session = None
