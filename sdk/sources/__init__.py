"""Sources of timestamped frames and audio chunks: live devices (Camera, Microphone), recorded
media (VideoFile, AudioFile, MediaFile) and a generator with ground truth (SyntheticScene)."""

from __future__ import annotations

from mmedge.sources.base import AudioChunk, Source, VideoFrame
from mmedge.sources.files import AudioFile, MediaFile, VideoFile
from mmedge.sources.live import Camera, Microphone, live_clock
from mmedge.sources.memory import AudioArray, ImageSequence
from mmedge.sources.synthetic import LABELS as SCENE_LABELS
from mmedge.sources.synthetic import SyntheticScene
from mmedge.sources.tee import tee

__all__ = [
    "SCENE_LABELS",
    "AudioArray",
    "AudioChunk",
    "AudioFile",
    "Camera",
    "ImageSequence",
    "MediaFile",
    "Microphone",
    "Source",
    "SyntheticScene",
    "VideoFile",
    "VideoFrame",
    "live_clock",
    "tee",
]
