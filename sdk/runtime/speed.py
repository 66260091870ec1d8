"""How fast an artifact runs here: median latency of a backend at batch 1, which machine measured
it, and a small per-user cache so `mmedge.Model` can pick the fastest artifact without timing
it again.

Exporting a bundle stores the exporting machine's numbers in reports.speed; a Model on another
machine times its candidates once (about a second) and keeps the result in
~/.cache/mmedge/speed.json, keyed by artifact sha256, machine and execution providers.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.info import cpu_model
from mmedge.runtime.backends.base import Backend


def machine_id() -> str:
    """'CPU model name, N logical cpus, arch': what a CPU timing is valid for."""
    return f"{cpu_model()}, {os.cpu_count()} cpus, {platform.machine()}"


@dataclass(frozen=True)
class SpeedReport:
    """Latency of one artifact on one machine at batch 1, ms (median and 90th percentile over
    `runs` timed runs after warm-up)."""

    median_ms: float
    p90_ms: float
    runs: int
    batch: int
    backend: str
    providers: list[str]
    threads: int | None
    machine: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpeedReport:
        return cls(
            float(d["median_ms"]),
            float(d["p90_ms"]),
            int(d["runs"]),
            int(d["batch"]),
            str(d["backend"]),
            list(d.get("providers", [])),
            d.get("threads"),
            str(d["machine"]),
        )


def time_backends(
    backends: Mapping[str, Backend],
    feeds: Mapping[str, np.ndarray],
    *,
    warmup: int = 5,
    rounds: int = 10,
    calls: int = 10,
) -> dict[str, SpeedReport]:
    """Times several backends on the same feeds, interleaved: `rounds` rounds in rotating
    order, `calls` timed calls per backend per round. A slow moment of a shared machine then
    hits every backend alike and the ratios between them hold."""
    names = list(backends)
    for name in names:
        for _ in range(warmup):
            backends[name].infer(feeds)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            backend = backends[name]
            for _ in range(calls):
                t0 = time.perf_counter()
                backend.infer(feeds)
                times[name].append((time.perf_counter() - t0) * 1e3)
    batch = int(next(iter(feeds.values())).shape[0]) if feeds else 1
    reports = {}
    for name in names:
        info = backends[name].describe()
        reports[name] = SpeedReport(
            float(np.median(times[name])),
            float(np.percentile(times[name], 90)),
            len(times[name]),
            batch,
            str(info.get("backend", backends[name].name)),
            list(info.get("providers", [])),
            info.get("intra_op_threads"),
            machine_id(),
        )
    return reports


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmedge" / "speed.json"


def cache_key(sha256: str, providers: list[str], threads: int | None) -> str:
    return f"{sha256}|{machine_id()}|{','.join(providers)}|{threads}"


def cached(key: str) -> SpeedReport | None:
    """A timing this machine stored before, or None (a corrupt cache counts as empty)."""
    try:
        entry = json.loads(cache_path().read_text(encoding="utf-8")).get(key)
        return SpeedReport.from_dict(entry) if entry else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remember(key: str, report: SpeedReport) -> None:
    """Adds a timing to the cache (atomically: temp file + rename; best effort)."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        data[key] = report.to_dict()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".speed-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass
