"""Inference backends behind one interface (mmedge.runtime.backends.Backend), found through a
registry: each entry says which artifact formats it runs, whether its libraries are installed,
how to open an artifact, which options it takes, and (for formats tied to a machine, such as
TensorRT engines) why an artifact cannot run here. Selection, validation and Model go through
the registry; a new backend is one register_backend() call.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedge.errors import BackendError
from mmedge.runtime.backends.base import Backend, TensorInfo


def importable(*modules: str) -> bool:
    """True when every module can be imported (without importing it)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class BackendEntry:
    """One backend of the registry.

    formats: artifact formats it runs. available: whether its libraries are installed here.
    open: (artifact path, **options) -> Backend. options: the option names it takes (None: it
    checks them itself). artifact_problems: (Bundle, Artifact) -> why that artifact cannot run
    on this machine (empty: it can); None for portable formats such as ONNX. devices: options ->
    what it will run on, best first (ONNX Runtime: its execution providers; None: its name).
    """

    name: str
    formats: tuple[str, ...]
    available: Callable[[], bool]
    open: Callable[..., Backend]
    options: tuple[str, ...] | None = None
    artifact_problems: Callable[[Any, Any], list[str]] | None = None
    devices: Callable[[Mapping[str, Any]], list[str]] | None = None

    def devices_for(self, options: Mapping[str, Any]) -> list[str]:
        return self.devices(options) if self.devices is not None else [self.name]


BACKENDS: dict[str, BackendEntry] = {}
"""Registered backends, best first: 'auto' tries them in this order."""


def register_backend(entry: BackendEntry, *, before: Sequence[str] = ()) -> None:
    """Adds (or replaces) a backend; `before`: names it should be tried ahead of."""
    BACKENDS.pop(entry.name, None)
    items = list(BACKENDS.items())
    at = min((i for i, (n, _) in enumerate(items) if n in before), default=len(items))
    items.insert(at, (entry.name, entry))
    BACKENDS.clear()
    BACKENDS.update(items)


def _open_ort(path: str | Path, **options: Any) -> Backend:
    from mmedge.runtime.backends.ort import OrtBackend

    return OrtBackend(path, **options)


def _open_tensorrt(path: str | Path, **options: Any) -> Backend:
    from mmedge.runtime.tensorrt.backend import TensorRTBackend

    return TensorRTBackend(path, **options)


def _ort_providers(options: Mapping[str, Any]) -> list[str]:
    requested = options.get("providers")
    if requested:
        return list(requested)
    from mmedge.runtime.backends.ort import choose_providers, import_onnxruntime

    try:
        return choose_providers(import_onnxruntime().get_available_providers())
    except BackendError:
        return []


def _tensorrt_available() -> bool:
    return importable("tensorrt") and (importable("cuda.bindings") or importable("cuda.cudart"))


def _engine_problems(bundle: Any, artifact: Any) -> list[str]:
    from mmedge.runtime.tensorrt.backend import engine_problems_here

    return engine_problems_here(artifact)


register_backend(
    BackendEntry(
        "tensorrt",
        ("tensorrt",),
        lambda: (
            importable("tensorrt") and (importable("cuda.bindings") or importable("cuda.cudart"))
        ),
        _open_tensorrt,
        options=("device_id",),
        artifact_problems=_engine_problems,
    )
)
register_backend(
    BackendEntry(
        "ort", ("onnx",), lambda: importable("onnxruntime"), _open_ort, devices=_ort_providers
    )
)

# Backend name -> artifact formats it runs, best first (a view of the registry).
BACKEND_FORMATS: dict[str, tuple[str, ...]] = {n: e.formats for n, e in BACKENDS.items()}


def available_backends() -> list[str]:
    """Backends whose runtime libraries are installed here, best first."""
    return [name for name, entry in BACKENDS.items() if entry.available()]


def backend_for(format: str, names: Sequence[str]) -> str | None:
    """The first of `names` that runs artifacts of `format`."""
    return next((n for n in names if n in BACKENDS and format in BACKENDS[n].formats), None)


def create_backend(name: str, artifact_path: str | Path, **options: Any) -> Backend:
    """Opens `artifact_path` with backend `name` (see BACKENDS)."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise BackendError(f"unknown backend {name!r}; known: {sorted(BACKENDS)}")
    if entry.options is not None:
        unknown = sorted(set(options) - set(entry.options))
        if unknown:
            raise BackendError(f"the {name} backend takes {sorted(entry.options)}, not {unknown}")
    return entry.open(artifact_path, **options)


__all__ = [
    "BACKENDS",
    "BACKEND_FORMATS",
    "Backend",
    "BackendEntry",
    "BackendError",
    "TensorInfo",
    "available_backends",
    "backend_for",
    "create_backend",
    "register_backend",
]
