"""`mmedge demo`: the fused pipeline on a SyntheticScene (or your files, camera, microphone) with
the built-in scene bundles: an image model on every third frame, a video model on clips of 8
frames, an audio model on 0.5 s windows, late fusion (log-linear) twice a second. Prints the
fused results as they come and a latency table at the end. CPU by default; needs only NumPy and
ONNX Runtime.

The generated scene fails one sensor at a time (mmedge.sources.degradations: the light goes
out, the camera freezes, loud noise, a muted microphone): each row shows every modality's
answer, confidence and input health, and the summary how often the fused answer and each
modality alone said the scene's truth. --streams N batches N cameras (tee'd views of the
scene) through one image model; --plot draws the timeline."""

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
from mmedge.sources.degradations import schedule

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
        scene.degradations = schedule(seconds, seed, [s.t_start_s for s in scene.segments[1:]])
        video_src, audio_src = scene.video, scene.audio
    return video_src, audio_src, scene


def build_pipeline(
    video_src: Source | None, audio_src: Source | None, backend: str, streams: int = 1
) -> Pipeline:
    """image + video models on the video source (tee), audio model on the audio source;
    streams > 1: the image model batches that many views of the video source."""
    from mmedge.bundle import builtin_bundle

    pipe = Pipeline()
    if video_src is not None:
        for_clips, *for_image = tee(video_src, 1 + streams)
        image = builtin_bundle("scene_image")
        if streams > 1:
            pipe.add("image", for_image, image, every_n=3, batch=True, backend=backend)
        else:
            pipe.add("image", for_image[0], image, every_n=3, backend=backend)
        pipe.add("video", for_clips, builtin_bundle("scene_video"), backend=backend)
    if audio_src is not None:
        pipe.add("audio", audio_src, builtin_bundle("scene_audio"), backend=backend)
    return pipe.fuse("log_linear", rate_hz=2.0, max_skew_ms=700)


def _cell(c: Any) -> str:
    """A modality's answer, confidence and input health ('dark', 'silent', ...)."""
    if c is None:
        return f"{'-':<19}"
    return f"{c.label:<8} {c.score:4.2f} {c.health or '':<6}"


def _row(r: FusedResult, truth: str | None, modalities: list[str], failure: str) -> str:
    by_name = {c.modality: c for c in r.contributors}
    parts = [_cell(by_name.get(name)) for name in modalities]
    mark = "" if truth is None or truth == r.label else "  <- differs from truth"
    return (
        f"{r.t_s:6.2f}  {truth or '?':<8}  {failure:<14} {r.label:<8} {r.score:5.2f} | "
        + "  ".join(parts)
        + f"  {r.latency_ms:6.1f} ms{mark}"
    )


def _failure(scene: SyntheticScene | None, t_s: float) -> str:
    """What the scene's sensors suffer at t_s ('camera dark', 'mic muted', ...)."""
    if scene is None:
        return ""
    d = next((d for d in scene.degradations if d.covers(t_s)), None)
    return "" if d is None else f"{'camera' if d.camera else 'mic'} {d.kind}"


def _agreement(
    rows: list[dict[str, Any]], modalities: list[str], flagged_is_miss: bool = True
) -> dict[str, float]:
    """How often the fused answer, and each modality on its own, said the scene's truth. A
    modality whose input was flagged (dark, frozen, silent, clipping) has no answer then: alone,
    with the same health checks, it would know its input is dead and say nothing."""
    own = {
        n: [
            c["label"] == r["truth"] and not (flagged_is_miss and c.get("health"))
            for r in rows
            for c in r["contributors"]
            if c["modality"] == n
        ]
        for n in modalities
    }
    return {
        "fused": float(np.mean([r["label"] == r["truth"] for r in rows])),
        **{n: float(np.mean(hits or [np.nan])) for n, hits in own.items()},
    }


def _summary_line(acc: dict[str, float]) -> str:
    singles = {k: v for k, v in acc.items() if k != "fused"}
    best = max(singles, key=lambda k: singles[k])
    return (
        "agreement with the scene's truth (a flagged input: no answer): "
        + ", ".join(f"{k} {v:.0%}" for k, v in acc.items())
        + f"; fused vs the best single modality ({best}): {100 * (acc['fused'] - acc[best]):+.1f} "
        "points"
    )


def _header(
    emit: Callable[[str], None], pipe: Pipeline, scene: SyntheticScene | None, names: list[str]
) -> None:
    where = (
        "SyntheticScene"
        if scene
        else ", ".join(sorted({m.source.name for m in pipe.modalities.values()}))
    )
    emit(f"mmedge demo: {where}; fusion log_linear at 2 Hz over {', '.join(names)}")
    if scene is None:
        emit(
            "note: the built-in bundles know only the generated scene's classes "
            f"({', '.join(SCENE_LABELS)}): on real media their labels mean nothing. Run "
            "your own bundles with `mmedge run PIPELINE.toml`."
        )
    else:
        failures = ", ".join(
            f"{'camera' if d.camera else 'mic'} {d.kind} {d.t_start_s:.1f}-{d.t_end_s:.1f} s"
            for d in scene.degradations
        )
        emit(f"sensor failures (one at a time): {failures or 'none (scene under 6 s)'}")
    for name, m in pipe.modalities.items():
        if m.model is not None:
            emit(f"  {name:<8} {m.model}  ({m.model.selection.reason})")
    emit(
        f"{'t (s)':>6}  {'truth':<8}  {'sensors':<14} {'fused':<8} {'score':>5} | "
        + "  ".join(f"{n:<19}" for n in names)
        + "  end-to-end"
    )


def run(
    *,
    video: str | None = None,
    audio: str | None = None,
    media: str | None = None,
    camera: int | str | None = None,
    mic: bool = False,
    seconds: float = 12.0,
    seed: int = 0,
    streams: int = 1,
    backend: str = "auto",
    as_json: bool = False,
    plot: str | Path | None = None,
    emit: Callable[[str], None] = print,
) -> int:
    """Runs the demo; returns the process exit code."""
    if not 1 <= streams <= 16:
        raise MMEdgeError(f"--streams must be 1 to 16, got {streams}")
    video_src, audio_src, scene = _sources(video, audio, media, camera, mic, seconds, seed)
    live = any(s is not None and s.live for s in (video_src, audio_src))
    pipe = build_pipeline(video_src, audio_src, backend, streams)
    names = list(pipe.modalities)
    if not as_json:
        _header(emit, pipe, scene, names)
    rows: list[dict[str, Any]] = []

    def show(r: FusedResult) -> None:
        truth = scene.truth(r.t_s) if scene is not None else None
        sensors = _failure(scene, r.t_s)
        rows.append({**r.to_dict(), "truth": truth, "sensors": sensors})
        if not as_json:
            emit(_row(r, truth, names, sensors))

    pipe.on_result(show)
    pipe.run(timeout_s=seconds if live else None)
    stats = pipe.stats()
    summary: dict[str, Any] = {"count": len(rows), "stats": stats}
    if scene is not None and rows:
        acc = summary["accuracy_vs_truth"] = _agreement(rows, names)
        best = max(v for k, v in acc.items() if k != "fused")
        summary["fused_minus_best_single_points"] = 100 * (acc["fused"] - best)
        summary["accuracy_vs_truth_flagged_answers_kept"] = _agreement(rows, names, False)
        summary["degradations"] = [d.__dict__ for d in scene.degradations]
    if plot:
        from mmedge.demo_timeline import plot_timeline

        plot_timeline(rows, names, scene, plot)
    if as_json:
        emit(json.dumps({"results": rows, **summary}, indent=2, default=str))
    else:
        if "accuracy_vs_truth" in summary:
            emit(_summary_line(summary["accuracy_vs_truth"]))
        emit(pipe.telemetry.table())
        if stats["errors"]:
            emit(f"errors: {stats['errors']}")
        if plot:
            emit(f"timeline: {plot}")
    return 0 if rows else 1
