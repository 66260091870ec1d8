"""A classification result (Prediction), the softmax it is made with, and the checks of a
ready-made tensor fed to an input without preprocessing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.bundle import TensorSpec
from mmedge.errors import PreprocessError
from mmedge.preprocess._checks import require_finite


@dataclass(frozen=True)
class Prediction:
    """One classification result.

    label/index/score: the top class, its index and probability (0..1).
    probs: probabilities of all classes (float32, sums to 1).
    latency_ms: wall time of this prediction (preprocess + infer + softmax), ms; for a batch,
        the batch's time divided by its size. preprocess_ms/infer_ms: the parts of it.
    outputs: this sample's row of every model output by name (e.g. 'embedding' for
        feature-level fusion), as the backend returned them.
    """

    label: str
    index: int
    score: float
    probs: np.ndarray
    latency_ms: float
    preprocess_ms: float
    infer_ms: float
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax, computed in float64 and returned as float32."""
    z = logits.astype(np.float64)
    z -= z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def tensor_sample(raw: Any, declared: TensorSpec) -> np.ndarray:
    """A ready-made tensor for an input without preprocessing: float32, batch axis added when
    the sample has the input's rank minus one."""
    x = np.asarray(raw)
    if x.dtype != np.float32:
        raise PreprocessError(
            f"input {declared.name!r} takes float32 tensors, got {x.dtype} (convert explicitly)"
        )
    require_finite(x, f"input {declared.name!r}")
    rank = len(declared.shape)
    if x.ndim == rank - 1:
        x = x[None]
    if x.ndim != rank:
        raise PreprocessError(
            f"input {declared.name!r} takes shape {list(declared.shape)}, got {x.shape}"
        )
    return np.ascontiguousarray(x)
