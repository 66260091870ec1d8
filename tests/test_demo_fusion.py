"""`mmedge demo` fails one sensor at a time (a dark or frozen camera, a noisy or muted
microphone) and fusion earns its place: on the default seed and two others the fused answer
agrees with the scene's truth at least 5 points more often than the best single modality;
the health checks that leave dead inputs out of fusion, on their own; --streams batches."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mmedge.cli import main
from mmedge.pipeline.health import FROZEN_S, FrameHealth, audio_health
from mmedge.sources import SyntheticScene
from mmedge.sources.degradations import Degradation, schedule


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fusion_beats_every_single_modality(seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--seed", str(seed)]) == 0
    report = json.loads(capsys.readouterr().out)
    acc = report["accuracy_vs_truth"]
    best = max(acc[m] for m in ("image", "video", "audio"))
    assert acc["fused"] - best >= 0.05, acc
    assert report["fused_minus_best_single_points"] == pytest.approx(100 * (acc["fused"] - best))
    assert sorted(d["kind"] for d in report["degradations"]) == ["dark", "frozen", "muted", "noise"]
    raw = report["accuracy_vs_truth_flagged_answers_kept"]  # the models' answers, dead or not
    assert raw["fused"] == acc["fused"] and all(raw[m] >= acc[m] for m in ("image", "audio"))
    # the failures were seen and left out: a dark camera's results carry their health
    flagged = {c["health"] for r in report["results"] for c in r["contributors"] if c["health"]}
    assert {"dark", "silent"} <= flagged
    dark = next(d for d in report["degradations"] if d["kind"] == "dark")
    inside = [r for r in report["results"] if dark["t_start_s"] + 0.5 < r["t_s"] < dark["t_end_s"]]
    for r in inside:
        image = next(c for c in r["contributors"] if c["modality"] == "image")
        assert image["health"] == "dark" and image["weight"] == 0.0 and "image (dark)" in r["note"]


def test_the_failures_are_the_scene_s() -> None:
    scene = SyntheticScene(12.0, seed=0)
    plan = [("dark", 2.0, 3.0), ("frozen", 4.0, 6.0), ("muted", 7.0, 8.0), ("noise", 9.0, 10.0)]
    scene.degradations = [Degradation(*d) for d in plan]
    assert scene.frame(round(2.5 * scene.fps)).mean() < 12
    assert np.array_equal(scene.frame(round(4.2 * scene.fps)), scene.frame(round(5.9 * scene.fps)))
    rate = scene.sample_rate_hz
    assert not scene.samples(int(7.2 * rate), 1000).any()
    assert scene.samples(int(9.2 * rate), 4000).std() > 0.9
    changes = [s.t_start_s for s in scene.segments[1:]]
    made = schedule(12.0, 3, changes)
    assert len(made) == 4 and all(a.t_end_s < b.t_start_s for a, b in itertools.pairwise(made))
    frozen = next(d for d in made if d.kind == "frozen")
    assert any(frozen.t_start_s < c < frozen.t_end_s for c in changes)  # it freezes over a change


def test_frame_health() -> None:
    health, rng = FrameHealth(), np.random.default_rng(0)
    lit = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    assert health.check(lit, 0.0) is None
    assert health.check(np.full((48, 64, 3), 8, np.uint8), 0.1) == "dark"
    t, verdicts = 0.2, []
    while t < 0.2 + FROZEN_S + 0.2:  # the same frame over and over
        verdicts.append(health.check(lit.copy(), t))
        t += 0.1
    assert verdicts[0] is None and verdicts[-1] == "frozen"
    assert health.check(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), t) is None


def test_audio_health() -> None:
    rng = np.random.default_rng(0)
    assert audio_health(np.zeros(16000, np.float32)) == "silent"
    assert audio_health(1e-5 * rng.standard_normal(16000).astype(np.float32)) == "silent"
    assert audio_health(0.1 * rng.standard_normal(16000).astype(np.float32)) is None
    loud = np.clip(rng.standard_normal(16000), -1, 1).astype(np.float32)  # overloaded input
    assert audio_health(loud) == "clipping"


def test_demo_streams_batches_the_cameras(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--seconds", "6", "--streams", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = {c["modality"] for r in report["results"] for c in r["contributors"]}
    assert {"image/0", "image/1", "image/2", "image/3", "video", "audio"} <= names
    group = report["stats"]["modalities"]["image"]
    sizes = {int(k[6:]): v for k, v in group.items() if k.startswith("batch_")}
    assert sum(n * c for n, c in sizes.items()) == 4 * 30  # every 3rd of 90 frames, 4 streams
    assert max(sizes) == 4
