"""Pipelines from TOML files (`mmedge run pipeline.toml`):

    [pipeline]
    queue_size = 8

    [[modality]]
    name = "image"
    bundle = "builtin:scene_image"   # or a path, relative to this file
    every_n = 3
    source = { type = "video_file", path = "clip.mp4" }

    [[modality]]
    name = "audio"
    bundle = "builtin:scene_audio"
    source = { type = "media_audio", path = "clip.mp4" }

    [[modality]]                     # several cameras, one model, batched
    name = "cams"
    bundle = "builtin:digit_detector"
    batch = true
    max_delay_ms = 10
    track = true
    sources.front = { type = "camera", device = 0 }
    sources.rear = { type = "camera", device = 1 }   # or sources = [{...}, {...}]

    [fusion]
    method = "log_linear"            # weighted_mean | log_linear | max | head | model
    rate_hz = 2.0                    # or trigger = "image"
    max_skew_ms = 600

Every other key of a [[modality]] is an option of Pipeline.add (every_n, weight, window_s,
hop_s, track, rescore, batch, max_delay_ms, pad, and the Model's: backend, precision, ...).

Source types: camera (device, width, height, fps), microphone (sample_rate_hz, block_ms,
device), video_file (path, loop), audio_file (path, block_ms), media_video / media_audio (path:
the two tracks of one file), synthetic_video / synthetic_audio (seconds, seed, fps,
video_noise, audio_noise, realtime: the two halves of one SyntheticScene).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedge.errors import MMEdgeError
from mmedge.pipeline.pipeline import Pipeline
from mmedge.sources import (
    AudioFile,
    Camera,
    MediaFile,
    Microphone,
    Source,
    SyntheticScene,
    VideoFile,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SOURCE_TYPES = (
    "camera",
    "microphone",
    "video_file",
    "audio_file",
    "media_video",
    "media_audio",
    "synthetic_video",
    "synthetic_audio",
)
SCENE_KEYS = ("seconds", "seed", "fps", "video_noise", "audio_noise", "realtime")


class ConfigError(MMEdgeError):
    """A pipeline file is malformed; the message names the key."""


def resolve_bundle(ref: str, base: Path) -> str:
    """'builtin:NAME' -> the packaged bundle; a relative path -> relative to the config."""
    if ref.startswith("builtin:"):
        from mmedge.bundle import builtin_bundle

        return builtin_bundle(ref.split(":", 1)[1])
    path = Path(ref)
    return str(path if path.is_absolute() else base / path)


class _Shared:
    """One MediaFile / SyntheticScene per file or scene, shared by its two tracks."""

    def __init__(self) -> None:
        self.media: dict[str, MediaFile] = {}
        self.scenes: dict[tuple[Any, ...], SyntheticScene] = {}


def make_source(spec: Mapping[str, Any], base: Path, shared: _Shared, where: str) -> Source:
    kind = spec.get("type")
    if kind not in SOURCE_TYPES:
        raise ConfigError(f"{where}.source.type must be one of {SOURCE_TYPES}, got {kind!r}")
    args = {k: v for k, v in spec.items() if k != "type"}

    def path() -> Path:
        if "path" not in args:
            raise ConfigError(f"{where}.source needs a path")
        p = Path(args.pop("path"))
        return p if p.is_absolute() else base / p

    try:
        if kind == "camera":
            return Camera(args.pop("device", 0), **args)
        if kind == "microphone":
            return Microphone(**args)
        if kind == "video_file":
            return VideoFile(path(), **args)
        if kind == "audio_file":
            return AudioFile(path(), **args)
        if kind in ("media_video", "media_audio"):
            p = path()
            media = shared.media.setdefault(str(p), MediaFile(p, **args))
            return media.video if kind == "media_video" else media.audio
        unknown = sorted(set(args) - set(SCENE_KEYS))
        if unknown:
            raise ConfigError(f"{where}.source: unknown keys {unknown} (known: {SCENE_KEYS})")
        key = tuple(sorted(args.items()))
        scene = shared.scenes.setdefault(key, SyntheticScene(**args))
        return scene.video if kind == "synthetic_video" else scene.audio
    except TypeError as exc:
        raise ConfigError(f"{where}.source: {exc}") from exc


def _sources(
    entry: dict[str, Any], base: Path, shared: _Shared, where: str
) -> Source | list[Source] | dict[str, Source]:
    """A modality's `source` table, or its `sources`: a list or a table of source tables."""
    one, several = entry.pop("source", None), entry.pop("sources", None)
    if (one is None) == (several is None):
        raise ConfigError(f"{where} needs a source table or sources (a list or table of them)")
    if one is not None:
        if not isinstance(one, Mapping):
            raise ConfigError(f"{where}.source must be a table, got {type(one).__name__}")
        return make_source(one, base, shared, where)
    if isinstance(several, Mapping) and several:
        return {
            str(k): make_source(v, base, shared, f"{where}.sources.{k}") for k, v in several.items()
        }
    if isinstance(several, list) and several:
        return [
            make_source(v, base, shared, f"{where}.sources[{i}]") for i, v in enumerate(several)
        ]
    raise ConfigError(f"{where}.sources must be a non-empty list or table of source tables")


def pipeline_from_config(config: Mapping[str, Any], base: Path) -> Pipeline:
    """A Pipeline from a parsed config (see the module docstring)."""
    settings = dict(config.get("pipeline", {}))
    modalities = config.get("modality")
    if not isinstance(modalities, list) or not modalities:
        raise ConfigError("the config needs at least one [[modality]]")
    pipe = Pipeline(queue_size=int(settings.pop("queue_size", 8)))
    if settings:
        raise ConfigError(f"[pipeline] has unknown keys {sorted(settings)}")
    shared = _Shared()
    for i, entry in enumerate(modalities):
        entry = dict(entry)
        where = f"modality[{i}]"
        name = entry.pop("name", None)
        if not name:
            raise ConfigError(f"{where} needs a name")
        bundle = entry.pop("bundle", None)
        source = _sources(entry, base, shared, f"{where} ({name})")
        try:
            pipe.add(name, source, resolve_bundle(bundle, base) if bundle else None, **entry)
        except TypeError as exc:
            raise ConfigError(f"{where} ({name}): {exc}") from exc
    fusion = dict(config.get("fusion", {}))
    for key in ("head", "model"):
        if key in fusion:
            fusion[key] = resolve_bundle(fusion[key], base)
    try:
        pipe.fuse(**fusion)
    except TypeError as exc:
        raise ConfigError(f"[fusion]: {exc}") from exc
    return pipe


def load_pipeline(path: str | Path) -> Pipeline:
    """A Pipeline from a TOML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline file not found: {path}")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return pipeline_from_config(config, path.parent)
