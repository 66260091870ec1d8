"""Everything TensorRT: what an engine was built for and whether it runs here (engine, no GPU
needed), building one on the device (build), and running it (backend)."""

from __future__ import annotations

from mmedge.runtime.tensorrt.engine import (
    EngineMismatchError,
    EngineTarget,
    Profile,
    engine_problems,
    make_profile,
    rebuild_command,
)

__all__ = [
    "EngineMismatchError",
    "EngineTarget",
    "Profile",
    "engine_problems",
    "make_profile",
    "rebuild_command",
]
