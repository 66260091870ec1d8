"""mmedge.Pipeline: fusion rules against their formulas, causal alignment, reproducible runs over
files, no drops from recorded sources and drop-oldest from live ones, failing modalities, clean
shutdown (no thread or file handle left), the three fusion levels, TOML pipelines."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmedge
from mmedge import Pipeline
from mmedge.errors import SourceError
from mmedge.export import export_bundle
from mmedge.export.bundle_export import ModelInput
from mmedge.export.recipes.scene import AUDIO_SPEC, IMAGE_SPEC, LABEL_LIST
from mmedge.export.zoo import audio_cnn, fusion_head, tiny_cnn
from mmedge.pipeline.config import ConfigError, load_pipeline
from mmedge.pipeline.fusion import Aligner, FusionError, ModalityResult, late_fusion
from mmedge.sources import AudioFile, MediaFile, Source, SyntheticScene, VideoFrame, tee

IMAGE, AUDIO, VIDEO = (mmedge.builtin_bundle(f"scene_{m}") for m in ("image", "audio", "video"))


def test_late_fusion_formulas() -> None:
    p = {"a": np.array([0.7, 0.2, 0.1]), "b": np.array([0.2, 0.5, 0.3])}
    w = {"a": 3.0, "b": 1.0}
    mean, used = late_fusion(p, w, "weighted_mean")
    assert used == {"a": 0.75, "b": 0.25}
    np.testing.assert_allclose(mean, 0.75 * p["a"] + 0.25 * p["b"], rtol=1e-6)
    log_lin, _ = late_fusion(p, w, "log_linear")
    expected = p["a"] ** 0.75 * p["b"] ** 0.25
    np.testing.assert_allclose(log_lin, expected / expected.sum(), rtol=1e-5)
    best, _ = late_fusion(p, w, "max")
    np.testing.assert_allclose(best, p["a"])
    only_b, used = late_fusion({"b": p["b"]}, w, "weighted_mean")  # a missing: renormalised
    assert used == {"b": 1.0}
    np.testing.assert_allclose(only_b, p["b"], rtol=1e-6)
    with pytest.raises(FusionError, match="late fusion method must be one of"):
        late_fusion(p, w, "vote")


def test_alignment_is_causal_and_bounded() -> None:
    aligner = Aligner(["a", "b"], max_skew_s=0.3)
    for t in (0.1, 0.4, 0.7, 1.0):
        aligner.add(ModalityResult("a", t - 0.1, t))
    aligner.add(ModalityResult("b", 0.0, 0.2))
    chosen = aligner.select(0.75)
    assert chosen["a"].t_end_s == 0.7  # newest ending by the trigger, not the one at 1.0
    assert "b" not in chosen  # ended 0.55 s before: staler than max_skew
    assert aligner.select(0.45)["b"].t_end_s == 0.2


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


def test_a_failing_model_is_reported_and_the_others_keep_running(tmp_path: Path) -> None:
    """A bundle that expects grey frames, fed colour ones: every frame fails preprocessing, the
    modality stops after 10 failures in a row, the audio modality carries on."""
    grey = mmedge.ImageSpec(48, 48, input_format="GRAY", output_format="GRAY")
    wrong = export_bundle(
        tiny_cnn(1, 3, 48),
        tmp_path / "grey.mmb",
        name="grey",
        example_input=torch.zeros(1, 1, 48, 48),
        preprocess=grey,
        labels=LABEL_LIST,
        progress=False,
    )
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


@pytest.fixture(scope="module")
def scene_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fusion head over the scene bundles' embeddings (image 64-d, audio 32-d), untrained:
    the pipeline's plumbing is what is tested."""
    torch.manual_seed(0)
    head = fusion_head((64, 32), num_classes=3, hidden=16)
    return export_bundle(
        head,
        tmp_path_factory.mktemp("head") / "head.mmb",
        name="head",
        inputs=[
            ModelInput("image_embedding", torch.zeros(1, 64)),
            ModelInput("audio_embedding", torch.zeros(1, 32)),
        ],
        labels=LABEL_LIST,
        modality="fusion",
        progress=False,
    )


def test_feature_level_fusion_with_a_head(scene_head: Path) -> None:
    scene = SyntheticScene(4, seed=1)
    head = mmedge.Model(scene_head)
    pipe = (
        Pipeline()
        .add("image", scene.video, IMAGE, every_n=3)
        .add("audio", scene.audio, AUDIO)
        .fuse(
            "head",
            head=head,
            head_inputs={"image_embedding": "image", "audio_embedding": "audio"},
            trigger="image",
            max_skew_ms=400,
        )
    )
    results = pipe.run()
    full = [r for r in results if r.method == "head"]
    assert full and all(not r.missing for r in full)
    r = full[-1]
    image, audio = ({c.modality: c for c in r.contributors}[m] for m in ("image", "audio"))
    assert image.weight == audio.weight == 0.5
    early = [r for r in results if r.t_s < 0.45]  # before the first audio window ends
    assert early and all(r.method == "head->log_linear" and "audio" in r.missing for r in early)
    head.close()


class JointScene(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = tiny_cnn(in_channels=3, num_classes=8, input_size=48)
        self.audio = audio_cnn(num_classes=8, n_features=40, width=4)
        self.head = nn.Linear(16, 3)

    def forward(self, image: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image(image), self.audio(logmel)], 1))


def test_model_level_fusion_feeds_aligned_raw_inputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    joint = JointScene().eval()
    bundle = export_bundle(
        joint,
        tmp_path / "joint.mmb",
        name="joint",
        inputs=[
            ModelInput("image", torch.zeros(1, 3, 48, 48), IMAGE_SPEC),
            ModelInput("logmel", torch.zeros(AUDIO_SPEC.tensor_shape()), AUDIO_SPEC),
        ],
        labels=LABEL_LIST,
        modality="multimodal",
        progress=False,
    )
    scene = SyntheticScene(3, seed=4)
    pipe = (
        Pipeline()
        .add("camera", scene.video)  # no bundle: raw frames for the joint model
        .add("mic", scene.audio)
        .fuse(
            "model",
            model=bundle,
            model_inputs={"image": "camera", "logmel": "mic"},
            trigger="mic",
            max_skew_ms=200,
        )
    )
    results = pipe.run()
    assert results and all(r.method == "model" for r in results)
    # The joint model saw exactly the newest frame and audio window at each trigger.
    r = results[2]
    cam, mic = ({c.modality: c for c in r.contributors}[m] for m in ("camera", "mic"))
    frame = scene.frame(round(cam.t_start_s * scene.fps))
    start = round(mic.t_start_s * 16000)
    chunks = [scene.samples(k * 1600, 1600) for k in range(30)]  # as the source delivered them
    window = np.concatenate(chunks)[start : start + 8000]
    with torch.inference_mode():
        logits = joint(
            torch.from_numpy(mmedge.preprocess.image(frame, IMAGE_SPEC)),
            torch.from_numpy(mmedge.preprocess.audio(window, AUDIO_SPEC)),
        )
    np.testing.assert_allclose(r.probs, torch.softmax(logits, 1)[0].numpy(), atol=1e-4)


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
