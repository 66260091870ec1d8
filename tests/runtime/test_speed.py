"""Speed bookkeeping (no timing is asserted: speed is proven by benchmarks): interleaved
rounds in rotating order, the per-machine cache and its atomic, corruption-tolerant file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mmedge.runtime import speed


class Recorder:
    """A backend that records the order it was called in."""

    name = "fake"

    def __init__(self, label: str, log: list[str]) -> None:
        self.label, self.log = label, log

    def infer(self, feeds):
        self.log.append(self.label)
        return {"y": feeds["x"]}

    def describe(self):
        return {"backend": "fake", "providers": ["CPU"], "intra_op_threads": 1}


def test_backends_are_timed_interleaved_in_rotating_order() -> None:
    log: list[str] = []
    backends = {k: Recorder(k, log) for k in "abc"}
    reports = speed.time_backends(
        backends, {"x": np.zeros((2, 3), np.float32)}, warmup=1, rounds=3, calls=2
    )
    assert log[:3] == ["a", "b", "c"]  # warm-up
    timed = log[3:]
    assert timed == list("aabbcc") + list("bbccaa") + list("ccaabb")
    for r in reports.values():
        assert (r.runs, r.batch, r.providers, r.threads) == (6, 2, ["CPU"], 1)
        assert r.machine == speed.machine_id() and r.p90_ms >= r.median_ms >= 0


def test_cache_round_trip_and_corruption(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    report = speed.SpeedReport(1.5, 2.0, 40, 1, "ort", ["CPUExecutionProvider"], 1, "m")
    key = speed.cache_key("abc", ["CPUExecutionProvider"], 1)
    assert speed.cached(key) is None
    speed.remember(key, report)
    assert speed.cached(key) == report
    assert json.loads(speed.cache_path().read_text())[key]["median_ms"] == 1.5
    assert not [p for p in os.listdir(speed.cache_path().parent) if p.startswith(".speed-")]
    speed.cache_path().write_text("{not json")
    assert speed.cached(key) is None  # a corrupt cache counts as empty
    speed.remember(key, report)  # and is replaced
    assert speed.cached(key) == report


def test_machine_id_names_cpu_count_and_architecture() -> None:
    import platform

    machine = speed.machine_id()
    assert f"{os.cpu_count()} cpus" in machine and machine.endswith(platform.machine())
