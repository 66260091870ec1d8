"""Fusion of the modalities' outputs at the three levels the field uses, and their alignment.

Late fusion over class probabilities p_m of the contributing modalities with weights w_m
(renormalised over the modalities present):
  weighted_mean  sum_m w_m p_m
  log_linear     softmax(sum_m w_m log p_m): a product of experts; a confident modality can
                 veto a class
  max            the probabilities of the single most confident modality
Feature level: a fusion bundle (a small learned head) over the modalities' embeddings.
Model level: one jointly trained bundle with one input per modality, fed aligned raw inputs.

Alignment (DESIGN.md section 7): at a trigger time T each modality contributes its newest result
whose span ends within max_skew of T, and not after T (1 ms tolerance): a fused result uses only
what existed at its time, so a run over files gives what a live run would; a modality with no
such result is left out and listed as missing.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.errors import MMEdgeError

LATE_METHODS = ("weighted_mean", "log_linear", "max")
EPS = 1e-7


class FusionError(MMEdgeError):
    """The fusion configuration does not fit the modalities (labels, inputs, weights)."""


@dataclass
class ModalityResult:
    """What one modality produced for one window of its input.

    t_start_s/t_end_s: the span of source time the window covers. probs: class probabilities
    (None in raw mode); embedding: the model's embedding output when it has one; raw: the
    window itself when the modality only feeds a model-level bundle. arrived: time.monotonic()
    when the newest source item of the window arrived (end-to-end latency starts there).
    """

    modality: str
    t_start_s: float
    t_end_s: float
    probs: np.ndarray | None = None
    embedding: np.ndarray | None = None
    raw: Any = None
    sample_rate_hz: int | None = None
    arrived: float = 0.0
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Contribution:
    """One modality's part in a fused result: its window, how stale it was at the trigger
    (ms; negative = it ends after the trigger), its weight after renormalisation, and what it
    said on its own."""

    modality: str
    t_start_s: float
    t_end_s: float
    staleness_ms: float
    weight: float
    label: str | None
    score: float | None


@dataclass(frozen=True)
class FusedResult:
    """The fused answer at trigger time t_s (source time, s)."""

    t_s: float
    label: str
    index: int
    score: float
    probs: np.ndarray
    method: str
    contributors: list[Contribution]
    missing: list[str]
    latency_ms: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "t_s": self.t_s,
            "label": self.label,
            "score": self.score,
            "method": self.method,
            "probs": [float(p) for p in self.probs],
            "contributors": [c.__dict__ for c in self.contributors],
            "missing": self.missing,
            "latency_ms": self.latency_ms,
            "note": self.note,
        }


def late_fusion(
    probs: Mapping[str, np.ndarray], weights: Mapping[str, float], method: str
) -> tuple[np.ndarray, dict[str, float]]:
    """Fused probabilities of the modalities in `probs` and the weights used (renormalised to
    sum 1 over them)."""
    if method not in LATE_METHODS:
        raise FusionError(f"late fusion method must be one of {LATE_METHODS}, got {method!r}")
    if not probs:
        raise FusionError("nothing to fuse")
    names = list(probs)
    w = np.array([max(float(weights.get(n, 1.0)), 0.0) for n in names])
    if w.sum() <= 0:
        w = np.ones(len(names))
    w = w / w.sum()
    stack = np.stack([np.asarray(probs[n], np.float64) for n in names])
    if method == "weighted_mean":
        fused = (w[:, None] * stack).sum(axis=0)
    elif method == "log_linear":
        z = (w[:, None] * np.log(stack + EPS)).sum(axis=0)
        z -= z.max()
        fused = np.exp(z) / np.exp(z).sum()
    else:
        best = int(stack.max(axis=1).argmax())
        fused = stack[best]
    return fused.astype(np.float32), dict(zip(names, w.tolist(), strict=True))


class Aligner:
    """Recent results per modality; picks, for a trigger time T, each modality's newest result
    ending in [T - max_skew, T]."""

    TOLERANCE_S = 1e-3

    def __init__(self, modalities: Sequence[str], max_skew_s: float) -> None:
        self.max_skew_s = max_skew_s
        self._history: dict[str, collections.deque[ModalityResult]] = {
            m: collections.deque() for m in modalities
        }

    def add(self, result: ModalityResult) -> None:
        self._history[result.modality].append(result)

    def prune(self, t_s: float) -> None:
        """Forgets results no trigger at or after t_s can pick (ending before t_s - max_skew),
        keeping each modality's newest. A fast modality may run far ahead of a slow one over a
        file: its results stay until the slow one's triggers have used them."""
        horizon = t_s - self.max_skew_s - self.TOLERANCE_S
        for results in self._history.values():
            while len(results) > 1 and results[0].t_end_s < horizon:
                results.popleft()

    def select(self, t_s: float) -> dict[str, ModalityResult]:
        chosen = {}
        for name, results in self._history.items():
            fitting = [
                r
                for r in results
                if t_s - self.max_skew_s - self.TOLERANCE_S <= r.t_end_s <= t_s + self.TOLERANCE_S
            ]
            if fitting:
                chosen[name] = max(fitting, key=lambda r: r.t_end_s)
        return chosen
