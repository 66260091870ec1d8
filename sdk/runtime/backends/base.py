"""The interface every inference backend implements (ONNX Runtime, TensorRT, PyTorch reference)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """A backend's view of one model input or output; dynamic dims are strings or None."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype


@runtime_checkable
class Backend(Protocol):
    """Runs one model artifact. `infer` takes and returns host arrays by tensor name."""

    name: str

    @property
    def inputs(self) -> list[TensorInfo]: ...

    @property
    def outputs(self) -> list[TensorInfo]: ...

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
