"""mmedge.Pipeline end to end on the built-in bundles: fusion rules against their formulas,
causal alignment, reproducible runs over files, no drops from recorded sources and drop-oldest
from live ones, failing modalities, clean shutdown (no thread or file handle left), iteration
with and without a context manager, TOML pipelines. Feature- and model-level fusion with
exported bundles: tests/export/test_fusion_bundles.py."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge import Pipeline
from mmedge.bundle import write_bundle
from mmedge.errors import SourceError
from mmedge.pipeline.config import ConfigError, load_pipeline
from mmedge.sources import AudioFile, MediaFile, Source, SyntheticScene, VideoFrame, tee

IMAGE, AUDIO, VIDEO = (mmedge.builtin_bundle(f"scene_{m}") for m in ("image", "audio", "video"))


def scene_pipeline(scene: SyntheticScene, method: str = "log_linear", **fuse) -> Pipeline:
    for_image, for_clips = tee(scene.video, 2)
    return (
        Pipeline()
        .add("image", for_image, IMAGE, every_n=3)
        .add("video", for_clips, VIDEO)
        .add("audio", scene.audio, AUDIO)
        .fuse(method, **({"rate_hz": 2.0, "max_skew_ms": 700} | fuse))
    )


def test_file_runs_are_reproducible_and_lose_nothing() -> None:
    runs = [scene_pipeline(SyntheticScene(6, seed=2)) for _ in range(2)]
    results = [p.run() for p in runs]
    assert len(results[0]) == len(results[1]) == 12
    for a, b in zip(*results, strict=True):
        assert (a.t_s, a.label) == (b.t_s, b.label)
        np.testing.assert_array_equal(a.probs, b.probs)
        assert [(c.modality, c.t_end_s) for c in a.contributors] == [
            (c.modality, c.t_end_s) for c in b.contributors
        ]
    stats = runs[0].stats()["modalities"]
    assert stats["image"]["infer"]["count"] == 30  # 90 frames, every 3rd
    assert stats["video"]["infer"]["count"] == 38  # stride 2: a clip every 2nd frame from 14
    assert stats["audio"]["infer"]["count"] == 23  # 0.5 s windows every 0.25 s over 6 s
    for m in ("image", "video", "audio"):
        assert stats[m]["dropped"] == 0
    for r in results[0]:
        assert all(0 <= c.staleness_ms <= 700 for c in r.contributors)
        assert set(r.missing) | {c.modality for c in r.contributors} == {"image", "video", "audio"}
        assert sum(c.weight for c in r.contributors) == pytest.approx(1.0)


def test_fused_beats_or_matches_each_modality_on_the_scene() -> None:
    scene = SyntheticScene(20, seed=5, video_noise=40, audio_noise=0.3)
    results = scene_pipeline(scene).run()
    truth = [scene.truth(r.t_s) for r in results]
    fused = np.mean([r.label == t for r, t in zip(results, truth, strict=True)])
    assert fused >= 0.8
    for name in ("image", "audio"):
        own = [
            c.label == t
            for r, t in zip(results, truth, strict=True)
            for c in r.contributors
            if c.modality == name
        ]
        assert fused >= np.mean(own) - 0.05, name


class FastLiveFrames(Source):
    """A live camera stand-in that delivers frames as fast as it can."""

    kind, live, name = "video", True, "fast-live"

    def __init__(self, n: int) -> None:
        self.n, self.i = n, 0
        self.frame = SyntheticScene(1).frame(0)

    def read(self) -> VideoFrame | None:
        if self.i >= self.n:
            return None
        self.i += 1
        return VideoFrame(self.frame, self.i / 1000, 0.001, self.i)


def test_live_sources_drop_oldest_and_count_it() -> None:
    pipe = Pipeline(queue_size=2).add("image", FastLiveFrames(3000), IMAGE).fuse(trigger="image")
    results = pipe.run(timeout_s=30)
    stats = pipe.stats()["modalities"]["image"]
    assert stats["dropped"] > 0
    assert stats["infer"]["count"] + stats["dropped"] >= 3000 - 2  # every frame accounted for
    assert len(results) == stats["infer"]["count"]


class Broken(Source):
    kind, live, name = "audio", False, "broken"

    def __init__(self, after: int) -> None:
        self.after, self.i = after, 0

    def read(self) -> None:
        self.i += 1
        if self.i > self.after:
            raise SourceError("microphone unplugged")
        from mmedge.sources import AudioChunk

        return AudioChunk(np.zeros(1600, np.float32), 16000, (self.i - 1) * 0.1, self.i - 1)


def test_a_failing_source_is_reported_and_the_others_keep_running() -> None:
    scene = SyntheticScene(4, seed=1)
    errors = []
    pipe = (
        Pipeline()
        .add("image", scene.video, IMAGE, every_n=3)
        .add("audio", Broken(after=5), AUDIO)
        .fuse("log_linear", trigger="image", max_skew_ms=300)
        .on_error(lambda m, stage, exc: errors.append((m, stage, str(exc))))
    )
    results = pipe.run()
    assert errors == [("audio", "source", "microphone unplugged")]
    assert pipe.stats()["errors"][0]["error"] == "SourceError: microphone unplugged"
    assert len(results) == 20  # every image result still fused
    assert "audio" in results[-1].missing


def _grey_input_bundle(tmp_path: Path) -> Path:
    """The built-in image bundle, its manifest saying the frames come in grey: colour frames
    then fail preprocessing."""
    with mmedge.Bundle.load(IMAGE) as src:
        manifest = json.loads(json.dumps(src.manifest))
        manifest["preprocess"]["image"]["input_format"] = "GRAY"
        return write_bundle(tmp_path / "grey.mmb", manifest, src.contents())


def test_a_failing_model_is_reported_and_the_others_keep_running(tmp_path: Path) -> None:
    """A bundle that expects grey frames, fed colour ones: every frame fails preprocessing, the
    modality stops after 10 failures in a row, the audio modality carries on."""
    wrong = _grey_input_bundle(tmp_path)
    scene = SyntheticScene(3, seed=1)
    pipe = (
        Pipeline()
        .add("image", scene.video, wrong)
        .add("audio", scene.audio, AUDIO)
        .fuse("log_linear", trigger="audio")
    )
    results = pipe.run()
    errors = pipe.stats()["errors"]
    assert errors[0]["modality"] == "image" and errors[0]["stage"] == "infer"
    assert "has 3 channels, spec.input_format GRAY expects 1" in errors[0]["error"]
    assert errors[-1]["error"].endswith("image stopped after 10 failures in a row")
    assert len(results) == 11 and all(r.missing == ["image"] for r in results)


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_thread_or_file_handle(data_dir: Path) -> None:
    before_threads = {t.ident for t in threading.enumerate()}
    before_fds = _fds()
    media = MediaFile(data_dir / "video_clips" / "cup.mp4")
    pipe = (
        Pipeline()
        .add("image", media.video, IMAGE, every_n=5)
        .add("audio", media.audio, AUDIO)
        .fuse("weighted_mean", trigger="image")
    )
    with pipe:
        time.sleep(0.5)  # stopped mid-file
    time.sleep(0.2)
    assert {t.ident for t in threading.enumerate()} <= before_threads
    assert _fds() <= before_fds | set()  # every decoder and model file closed


def test_iterating_a_pipeline(data_dir: Path) -> None:
    wav = data_dir / "fsdd" / "recordings" / "3_jackson_7.wav"
    pipe = Pipeline().add("audio", AudioFile(wav, block_ms=50), AUDIO).fuse(trigger="audio")
    results = list(pipe)
    assert results and all(r.contributors[0].modality == "audio" for r in results)
    assert [r.t_s for r in results] == sorted(r.t_s for r in results)


def test_context_manager_and_iteration_in_either_order() -> None:
    """`with pipe: for result in pipe:` (the README's form), iteration alone, and iteration
    after start() (results fused before the loop are kept) give the same results."""

    def pipe() -> Pipeline:
        scene = SyntheticScene(3, seed=3)
        return (
            Pipeline()
            .add("image", scene.video, IMAGE, every_n=3)
            .add("audio", scene.audio, AUDIO)
            .fuse("log_linear", trigger="image", max_skew_ms=400)
        )

    expected = [(r.t_s, r.label) for r in pipe().run()]
    assert len(expected) == 15
    with pipe() as p:
        inside = [(r.t_s, r.label) for r in p]
    alone = [(r.t_s, r.label) for r in pipe()]
    started = pipe().start()
    assert started.wait(30)  # every result fused before anyone iterates
    late = [(r.t_s, r.label) for r in started]
    assert inside == alone == late == expected


def test_media_file_through_the_pipeline(data_dir: Path) -> None:
    media = MediaFile(data_dir / "video_clips" / "box.mp4")
    for_image, for_clips = tee(media.video, 2)
    pipe = (
        Pipeline()
        .add("image", for_image, IMAGE, every_n=15)
        .add("video", for_clips, VIDEO)
        .add("audio", media.audio, AUDIO)  # 44.1 kHz resampled to the model's 16 kHz
        .fuse("log_linear", rate_hz=1.0, max_skew_ms=1000)
    )
    results = pipe.run()
    assert len(results) == 15
    assert results[-1].t_s == pytest.approx(15.0)
    assert {c.modality for c in results[5].contributors} == {"image", "video", "audio"}


def test_toml_pipeline(tmp_path: Path, capsys) -> None:
    config = tmp_path / "pipe.toml"
    config.write_text("""
[pipeline]
queue_size = 4

[[modality]]
name = "image"
bundle = "builtin:scene_image"
every_n = 3
source = { type = "synthetic_video", seconds = 3.0, seed = 2 }

[[modality]]
name = "audio"
bundle = "builtin:scene_audio"
source = { type = "synthetic_audio", seconds = 3.0, seed = 2 }

[fusion]
method = "weighted_mean"
rate_hz = 2.0
max_skew_ms = 600
""")
    from mmedge.cli import main

    stats = tmp_path / "stats.json"
    assert main(["run", str(config), "--stats", str(stats)]) == 0
    out = capsys.readouterr().out
    assert out.count(" s  ") == 6
    assert '"end_to_end"' in stats.read_text()
    pipe = load_pipeline(config)
    assert pipe.modalities["image"].source.name == "synthetic:video"
    config.write_text('[[modality]]\nname = "x"\nsource = { type = "webcam" }\n')
    with pytest.raises(ConfigError, match=r"source\.type must be one of"):
        load_pipeline(config)
