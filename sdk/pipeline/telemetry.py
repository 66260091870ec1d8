"""Per-stage latency and throughput of a running pipeline: count, p50/p95/p99/max ms, fps,
drops and queue depth; a JSON dump and a latency plot."""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGES = (
    "decode",
    "resample",
    "wait",
    "preprocess",
    "infer",
    "postprocess",
    "overhead",
    "latency",
    "fuse",
    "end_to_end",
)


class LatencyHistogram:
    """Latencies (ms) in log-spaced buckets: constant memory however long it runs (a robot runs
    for weeks), percentiles within RELATIVE_ERROR of the exact ones.

    Buckets are GROWTH = 1.02 wide (each 2% above the last) from LOW_MS = 1 us to HIGH_MS =
    1000 s: 1,048 int64 counters (8 KiB). A percentile is the geometric middle of the
    bucket holding it, so it is within 1% of the exact value (for values in range; smaller
    ones count as LOW_MS, larger as HIGH_MS); max, min and mean are exact.
    """

    GROWTH = 1.02
    LOW_MS = 1e-3
    HIGH_MS = 1e6
    RELATIVE_ERROR = GROWTH**0.5 - 1  # 0.995%
    _N = math.ceil(math.log(HIGH_MS / LOW_MS) / math.log(GROWTH)) + 1

    def __init__(self) -> None:
        self.counts = np.zeros(self._N, np.int64)
        self.count = 0
        self.total_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = -math.inf

    def add(self, ms: float) -> None:
        ratio = ms / self.LOW_MS
        i = int(math.log(ratio) / math.log(self.GROWTH)) + 1 if ratio > 1.0 else 0
        self.counts[min(i, self._N - 1)] += 1
        self.count += 1
        self.total_ms += ms
        self.min_ms = min(self.min_ms, ms)
        self.max_ms = max(self.max_ms, ms)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100), ms; NaN when empty. Clamped to [min, max]; q 0 and
        100 are min and max, exactly."""
        if self.count == 0:
            return math.nan
        if q <= 0 or q >= 100:
            return self.min_ms if q <= 0 else self.max_ms
        rank = max(1, math.ceil(q / 100.0 * self.count))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        middle = self.LOW_MS * self.GROWTH ** (i - 0.5) if i > 0 else self.LOW_MS
        return float(min(max(middle, self.min_ms), self.max_ms))


class StageStats:
    """Latencies (ms) of one stage in a LatencyHistogram (constant memory), with the times of
    the first and last, for the rate. Thread-safe."""

    def __init__(self) -> None:
        self._hist = LatencyHistogram()
        self._first: float | None = None
        self._last: float | None = None
        self._lock = threading.Lock()

    def record(self, ms: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._hist.add(float(ms))
            self._first = now if self._first is None else self._first
            self._last = now

    def percentiles(self, qs: tuple[float, ...]) -> list[float]:
        with self._lock:
            return [self._hist.percentile(q) for q in qs]

    def summary(self) -> dict[str, float | int]:
        with self._lock:
            h, first, last = self._hist, self._first, self._last
            if h.count == 0:
                return {"count": 0}
            p50, p95, p99 = (h.percentile(q) for q in (50, 95, 99))
            span = (last - first) if first is not None and last is not None else 0.0
            return {
                "count": h.count,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "max_ms": h.max_ms,
                "mean_ms": h.total_ms / h.count,
                "fps": (h.count - 1) / span if span > 0 and h.count > 1 else None,
            }


class Telemetry:
    """Stage statistics per modality ('image', 'audio', ...) and for the fused output
    ('fusion'), plus drops, queue depths and errors (the newest ERRORS_KEPT; each owner's
    'errors' counter counts them all). Memory is constant over a run of any length."""

    ERRORS_KEPT = 200

    def __init__(self) -> None:
        self._stages: dict[tuple[str, str], StageStats] = {}
        self._counters: dict[tuple[str, str], int] = collections.defaultdict(int)
        self._depth: dict[str, Any] = {}
        self._errors: collections.deque[dict[str, str]] = collections.deque(maxlen=self.ERRORS_KEPT)
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
            sizes = sorted((int(k[6:]), v) for k, v in stages.items() if k.startswith("batch_"))
            if sizes:
                rows.append(
                    f"{owner:<10} batches (size x count): "
                    + ", ".join(f"{n}x{c}" for n, c in sizes)
                )
        return "\n".join(rows)

    def plot(self, path: str | Path) -> Path:
        """Box plot of every stage's latency (ms) per modality; needs matplotlib."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with self._lock:
            stages = list(self._stages.items())
        boxes = []
        for (owner, stage), stats in stages:
            p1, p25, p50, p75, p99 = stats.percentiles((1, 25, 50, 75, 99))
            if not math.isnan(p50):
                boxes.append(
                    {
                        "label": f"{owner}\n{stage}",
                        "whislo": p1,
                        "q1": p25,
                        "med": p50,
                        "q3": p75,
                        "whishi": p99,
                        "fliers": [],
                    }
                )
        items = boxes
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(items)), 4), dpi=120)
        ax.bxp(boxes, showfliers=False)
        ax.set_xticks(range(1, len(boxes) + 1), [b["label"] for b in boxes], fontsize=7)
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.set_title("mmedge pipeline latency per stage (whiskers p1-p99)")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
        return path
