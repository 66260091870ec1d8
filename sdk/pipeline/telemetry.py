"""Per-stage latency and throughput of a running pipeline: count, p50/p95/p99/max ms, fps,
drops and queue depth; a JSON dump and a latency plot."""

from __future__ import annotations

import collections
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("decode", "resample", "preprocess", "infer", "overhead", "fuse", "end_to_end")


class StageStats:
    """Latencies (ms) of one stage; keeps the newest `keep` samples for percentiles, counts
    all. Thread-safe."""

    def __init__(self, keep: int = 20000) -> None:
        self._values: collections.deque[float] = collections.deque(maxlen=keep)
        self._count = 0
        self._first: float | None = None
        self._last: float | None = None
        self._lock = threading.Lock()

    def record(self, ms: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._values.append(float(ms))
            self._count += 1
            self._first = now if self._first is None else self._first
            self._last = now

    def values(self) -> np.ndarray:
        with self._lock:
            return np.fromiter(self._values, np.float64, len(self._values))

    def summary(self) -> dict[str, float | int]:
        v = self.values()
        with self._lock:
            count, first, last = self._count, self._first, self._last
        if v.size == 0:
            return {"count": 0}
        span = (last - first) if first is not None and last is not None else 0.0
        return {
            "count": count,
            "p50_ms": float(np.percentile(v, 50)),
            "p95_ms": float(np.percentile(v, 95)),
            "p99_ms": float(np.percentile(v, 99)),
            "max_ms": float(v.max()),
            "mean_ms": float(v.mean()),
            "fps": (count - 1) / span if span > 0 and count > 1 else None,
        }


class Telemetry:
    """Stage statistics per modality ('image', 'audio', ...) and for the fused output
    ('fusion'), plus drops, queue depths and errors."""

    def __init__(self) -> None:
        self._stages: dict[tuple[str, str], StageStats] = {}
        self._counters: dict[tuple[str, str], int] = collections.defaultdict(int)
        self._depth: dict[str, Any] = {}
        self._errors: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def stage(self, owner: str, stage: str) -> StageStats:
        with self._lock:
            key = (owner, stage)
            if key not in self._stages:
                self._stages[key] = StageStats()
            return self._stages[key]

    def record(self, owner: str, stage: str, ms: float) -> None:
        self.stage(owner, stage).record(ms)

    def count(self, owner: str, counter: str, n: int = 1) -> None:
        with self._lock:
            self._counters[(owner, counter)] += n

    def watch_depth(self, owner: str, depth: Any) -> None:
        """depth: a callable returning the current queue depth of `owner`'s input queue."""
        self._depth[owner] = depth

    def error(self, owner: str, stage: str, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(
                {"modality": owner, "stage": stage, "error": f"{type(exc).__name__}: {exc}"}
            )

    @property
    def errors(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._errors)

    def snapshot(self) -> dict[str, Any]:
        """{'elapsed_s', 'modalities': {owner: {stage: summary, counters..., queue_depth}},
        'errors': [...]}"""
        with self._lock:
            stages = dict(self._stages)
            counters = dict(self._counters)
        owners: dict[str, dict[str, Any]] = {}
        for (owner, stage), stats in stages.items():
            owners.setdefault(owner, {})[stage] = stats.summary()
        for (owner, counter), value in counters.items():
            owners.setdefault(owner, {})[counter] = value
        for owner, depth in self._depth.items():
            owners.setdefault(owner, {})["queue_depth"] = int(depth())
        return {
            "elapsed_s": time.monotonic() - self.started,
            "modalities": owners,
            "errors": self.errors,
        }

    def dump(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.snapshot(), indent=2) + "\n", encoding="utf-8")
        return path

    def table(self) -> str:
        """A fixed-width latency table (ms) for a terminal."""
        snap = self.snapshot()
        rows = [
            f"{'modality':<10} {'stage':<11} {'count':>6} {'p50':>8} {'p95':>8} {'p99':>8} "
            f"{'max':>8} {'fps':>7}"
        ]
        for owner, stages in snap["modalities"].items():
            for stage in STAGES:
                s = stages.get(stage)
                if not s or not s.get("count"):
                    continue
                fps = f"{s['fps']:.1f}" if s.get("fps") else "-"
                rows.append(
                    f"{owner:<10} {stage:<11} {s['count']:>6} {s['p50_ms']:>8.2f} "
                    f"{s['p95_ms']:>8.2f} {s['p99_ms']:>8.2f} {s['max_ms']:>8.2f} "
                    f"{fps:>7}"
                )
            extras = {k: v for k, v in stages.items() if k in ("dropped", "errors")}
            if any(extras.values()):
                rows.append(f"{owner:<10} " + ", ".join(f"{k} {v}" for k, v in extras.items()))
        return "\n".join(rows)

    def plot(self, path: str | Path) -> Path:
        """Box plot of every stage's latency (ms) per modality; needs matplotlib."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with self._lock:
            items = [(f"{o}\n{s}", st.values()) for (o, s), st in self._stages.items()]
        items = [(k, v) for k, v in items if v.size]
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(items)), 4), dpi=120)
        ax.boxplot([v for _, v in items], showfliers=True, whis=(1, 99))
        ax.set_xticks(range(1, len(items) + 1), [k for k, _ in items], fontsize=7)
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.set_title("mmedge pipeline latency per stage (whiskers p1-p99)")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
        return path
