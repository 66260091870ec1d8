"""Preprocessing specs (what the model was trained with) and the kernels that apply them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmedge.errors import PreprocessError
from mmedge.preprocess.audio import (
    AudioSpec,
    LogMelStream,
    MfccStream,
    Resampler,
    audio,
    logmel,
    mel_filters,
    mfcc,
    resample,
)
from mmedge.preprocess.image import image, image_batch
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.preprocess.video import FrameStack, VideoSpec, video_clip

Spec = ImageSpec | AudioSpec | VideoSpec

_SPEC_KINDS: dict[str, Any] = {"image": ImageSpec, "audio": AudioSpec, "video": VideoSpec}


def spec_from_dict(d: Mapping[str, Any]) -> Spec:
    """Builds the spec a manifest's `preprocess` entry describes (dispatch on its `kind`)."""
    kind = d.get("kind")
    if kind not in _SPEC_KINDS:
        raise PreprocessError(
            f"unknown preprocessing kind {kind!r}; this mmedge knows {sorted(_SPEC_KINDS)}"
        )
    return _SPEC_KINDS[kind].from_dict(d)


__all__ = [
    "AudioSpec",
    "FrameStack",
    "ImageSpec",
    "LogMelStream",
    "MfccStream",
    "Resampler",
    "Spec",
    "VideoSpec",
    "audio",
    "image",
    "image_batch",
    "logmel",
    "mel_filters",
    "mfcc",
    "resample",
    "spec_from_dict",
    "video_clip",
]
