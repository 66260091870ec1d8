"""Inference backends behind one interface (mmedge.backends.Backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmedge.backends.base import Backend, TensorInfo
from mmedge.errors import BackendError

# Backend name -> artifact formats it runs, best first.
BACKEND_FORMATS: dict[str, tuple[str, ...]] = {"ort": ("onnx",)}


def available_backends() -> list[str]:
    """Backends whose runtime library imports here."""
    names = []
    try:
        import onnxruntime  # noqa: F401

        names.append("ort")
    except ImportError:
        pass
    return names


def create_backend(name: str, artifact_path: str | Path, **options: Any) -> Backend:
    """Opens `artifact_path` with backend `name` ('ort')."""
    if name == "ort":
        from mmedge.backends.ort import OrtBackend

        return OrtBackend(artifact_path, **options)
    raise BackendError(f"unknown backend {name!r}; known: {sorted(BACKEND_FORMATS)}")


__all__ = [
    "BACKEND_FORMATS",
    "Backend",
    "BackendError",
    "TensorInfo",
    "available_backends",
    "create_backend",
]
