"""Telemetry: stage percentiles against NumPy's, counters, queue depth, errors, the JSON dump
and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmedge.pipeline.telemetry import StageStats, Telemetry


def test_stage_percentiles_are_numpys() -> None:
    values = np.random.default_rng(0).gamma(2.0, 3.0, 1000)
    stats = StageStats()
    for v in values:
        stats.record(float(v))
    s = stats.summary()
    assert s["count"] == 1000
    for key, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        assert s[key] == pytest.approx(np.percentile(values, q))
    assert s["max_ms"] == pytest.approx(values.max())
    assert s["mean_ms"] == pytest.approx(values.mean())
    assert StageStats().summary() == {"count": 0}


def test_only_the_newest_samples_are_kept_but_all_are_counted() -> None:
    stats = StageStats(keep=10)
    for v in range(100):
        stats.record(v)
    assert stats.summary()["count"] == 100
    np.testing.assert_array_equal(stats.values(), np.arange(90, 100))


def test_snapshot_table_and_dump(tmp_path: Path) -> None:
    t = Telemetry()
    for ms in (1.0, 2.0, 3.0):
        t.record("image", "infer", ms)
    t.count("image", "dropped", 2)
    t.watch_depth("image", lambda: 4)
    t.error("audio", "source", OSError("unplugged"))
    snap = t.snapshot()
    image = snap["modalities"]["image"]
    assert image["infer"]["p50_ms"] == 2.0 and image["dropped"] == 2 and image["queue_depth"] == 4
    assert snap["errors"] == [
        {"modality": "audio", "stage": "source", "error": "OSError: unplugged"}
    ]
    table = t.table().splitlines()
    assert table[0].split()[:3] == ["modality", "stage", "count"]
    assert table[1].split()[:4] == ["image", "infer", "3", "2.00"]
    assert "dropped 2" in table[2]
    dumped = json.loads(t.dump(tmp_path / "t.json").read_text())
    assert dumped["modalities"]["image"]["infer"]["count"] == 3
