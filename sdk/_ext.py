"""Loads the compiled kernels (mmedge._C) with a message that says how to build them."""

from __future__ import annotations

from types import ModuleType

from mmedge.errors import MMEdgeError


def load() -> ModuleType:
    try:
        from mmedge import _C
    except ImportError as exc:  # pragma: no cover - only on broken installs
        raise MMEdgeError(
            "mmedge._C (the compiled kernels) is not importable: "
            f"{exc}. Build it with `pip install .` (a C++17 compiler and CMake are needed)."
        ) from exc
    return _C


C = load()
