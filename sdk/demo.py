"""`mmedge demo`: the fused pipeline on a SyntheticScene (or your files, camera, microphone) with
the built-in scene bundles: an image model on every third frame, a video model on clips of 8
frames, an audio model on 0.5 s windows, late fusion (log-linear) twice a second. Prints the
fused results as they come and a latency table at the end. CPU by default; needs only NumPy and
ONNX Runtime."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import MMEdgeError
from mmedge.pipeline import Pipeline
from mmedge.pipeline.fusion import FusedResult
from mmedge.sources import (
    SCENE_LABELS,
    AudioFile,
    Camera,
    MediaFile,
    Microphone,
    Source,
    SyntheticScene,
    VideoFile,
    tee,
)

SCENE_BUNDLES = ("scene_image", "scene_audio", "scene_video")


def sample_frames() -> tuple[list[np.ndarray], np.ndarray]:
    """Rendered digit frames (uint8 (H, W), several sizes) and their digits, for the MNIST
    bundle's examples and tests."""
    path = resources.files("mmedge").joinpath("samples", "digits.npz")
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as data:
        keys = sorted(k for k in data.files if k.startswith("frame_"))
        return [data[k] for k in keys], data["labels"]


def _sources(
    video: str | None,
    audio: str | None,
    media: str | None,
    camera: int | str | None,
    mic: bool,
    seconds: float,
    seed: int,
) -> tuple[Source | None, Source | None, SyntheticScene | None]:
    if media and (video or audio):
        raise MMEdgeError("give --media, or --video/--audio, not both")
    if camera is not None and (video or media):
        raise MMEdgeError("give --camera or a video file, not both")
    if mic and (audio or media):
        raise MMEdgeError("give --mic or an audio file, not both")
    scene = None
    video_src: Source | None = None
    audio_src: Source | None = None
    if media:
        m = MediaFile(media)
        video_src, audio_src = m.video, m.audio
    if video:
        video_src = VideoFile(video)
    if audio:
        audio_src = AudioFile(audio)
    if camera is not None:
        video_src = Camera(int(camera) if str(camera).isdigit() else camera)
    if mic:
        audio_src = Microphone(16000, 100)
    if video_src is None and audio_src is None:
        scene = SyntheticScene(seconds, seed=seed, video_noise=30.0, audio_noise=0.25)
        video_src, audio_src = scene.video, scene.audio
    return video_src, audio_src, scene


def build_pipeline(video_src: Source | None, audio_src: Source | None, backend: str) -> Pipeline:
    """image + video models on the video source (tee), audio model on the audio source."""
    from mmedge.bundle import builtin_bundle

    pipe = Pipeline()
    if video_src is not None:
        for_image, for_clips = tee(video_src, 2)
        pipe.add("image", for_image, builtin_bundle("scene_image"), every_n=3, backend=backend)
        pipe.add("video", for_clips, builtin_bundle("scene_video"), backend=backend)
    if audio_src is not None:
        pipe.add("audio", audio_src, builtin_bundle("scene_audio"), backend=backend)
    return pipe.fuse("log_linear", rate_hz=2.0, max_skew_ms=700)


def _row(r: FusedResult, truth: str | None, modalities: list[str]) -> str:
    parts = []
    by_name = {c.modality: c for c in r.contributors}
    for name in modalities:
        c = by_name.get(name)
        parts.append(f"{c.label:<8} {c.staleness_ms:4.0f} ms" if c else f"{'-':<8} {'':>7}")
    mark = "" if truth is None or truth == r.label else "  <- differs from truth"
    return (
        f"{r.t_s:6.2f}  {truth or '?':<8}  {r.label:<8} {r.score:5.2f} | "
        + "  ".join(parts)
        + f"  {r.latency_ms:6.1f} ms{mark}"
    )


def _agreement(rows: list[dict[str, Any]], modalities: list[str]) -> dict[str, float]:
    """How often the fused answer, and each modality on its own, said the scene's truth."""
    own = {
        n: [c["label"] == r["truth"] for r in rows for c in r["contributors"] if c["modality"] == n]
        for n in modalities
    }
    return {
        "fused": float(np.mean([r["label"] == r["truth"] for r in rows])),
        **{n: float(np.mean(hits or [np.nan])) for n, hits in own.items()},
    }


def run(
    *,
    video: str | None = None,
    audio: str | None = None,
    media: str | None = None,
    camera: int | str | None = None,
    mic: bool = False,
    seconds: float = 12.0,
    seed: int = 0,
    backend: str = "auto",
    as_json: bool = False,
    plot: str | Path | None = None,
    emit: Callable[[str], None] = print,
) -> int:
    """Runs the demo; returns the process exit code."""
    video_src, audio_src, scene = _sources(video, audio, media, camera, mic, seconds, seed)
    live = any(s is not None and s.live for s in (video_src, audio_src))
    pipe = build_pipeline(video_src, audio_src, backend)
    modalities = [n for n in ("image", "video", "audio") if n in pipe.modalities]
    if not as_json:
        where = (
            "SyntheticScene"
            if scene
            else ", ".join(s.name for s in (video_src, audio_src) if s is not None)
        )
        emit(f"mmedge demo: {where}; fusion log_linear at 2 Hz over {', '.join(modalities)}")
        if scene is None:
            emit(
                "note: the built-in bundles know only the generated scene's classes "
                f"({', '.join(SCENE_LABELS)}): on real media their labels mean nothing. Run "
                "your own bundles with `mmedge run PIPELINE.toml`."
            )
        for name, m in pipe.modalities.items():
            if m.model is not None:
                emit(f"  {name:<6} {m.model}  ({m.model.selection.reason})")
        emit(
            f"{'t (s)':>6}  {'truth':<8}  {'fused':<8} {'score':>5} | "
            + "  ".join(f"{n:<16}" for n in modalities)
            + "  end-to-end"
        )
    rows: list[dict[str, Any]] = []

    def show(r: FusedResult) -> None:
        truth = scene.truth(r.t_s) if scene is not None else None
        rows.append({**r.to_dict(), "truth": truth})
        if not as_json:
            emit(_row(r, truth, modalities))

    pipe.on_result(show)
    pipe.run(timeout_s=seconds if live else None)
    stats = pipe.stats()
    summary: dict[str, Any] = {"count": len(rows), "stats": stats}
    if scene is not None and rows:
        summary["accuracy_vs_truth"] = _agreement(rows, modalities)
    if plot:
        pipe.plot_latency(plot)
    if as_json:
        emit(json.dumps({"results": rows, **summary}, indent=2, default=str))
    else:
        if "accuracy_vs_truth" in summary:
            acc = summary["accuracy_vs_truth"]
            emit(
                "agreement with the scene's truth: "
                + ", ".join(f"{k} {v:.0%}" for k, v in acc.items())
            )
        emit(pipe.telemetry.table())
        if stats["errors"]:
            emit(f"errors: {stats['errors']}")
        if plot:
            emit(f"latency plot: {plot}")
    return 0 if rows else 1
