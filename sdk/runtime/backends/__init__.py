"""Inference backends behind one interface (mmedge.runtime.backends.Backend)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mmedge.errors import BackendError
from mmedge.runtime.backends.base import Backend, TensorInfo

# Backend name -> artifact formats it runs, best first. 'auto' tries them in this order.
BACKEND_FORMATS: dict[str, tuple[str, ...]] = {"tensorrt": ("tensorrt",), "ort": ("onnx",)}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """Backends whose runtime libraries are installed here, best first."""
    names = []
    if _importable("tensorrt") and (_importable("cuda.bindings") or _importable("cuda.cudart")):
        names.append("tensorrt")
    if _importable("onnxruntime"):
        names.append("ort")
    return names


def create_backend(name: str, artifact_path: str | Path, **options: Any) -> Backend:
    """Opens `artifact_path` with backend `name` ('ort' or 'tensorrt')."""
    if name == "ort":
        from mmedge.runtime.backends.ort import OrtBackend

        return OrtBackend(artifact_path, **options)
    if name == "tensorrt":
        from mmedge.runtime.tensorrt.backend import TensorRTBackend

        allowed = {"device_id"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise BackendError(f"the TensorRT backend takes {sorted(allowed)}, not {unknown}")
        return TensorRTBackend(artifact_path, **options)
    raise BackendError(f"unknown backend {name!r}; known: {sorted(BACKEND_FORMATS)}")


__all__ = [
    "BACKEND_FORMATS",
    "Backend",
    "BackendError",
    "TensorInfo",
    "available_backends",
    "create_backend",
]
