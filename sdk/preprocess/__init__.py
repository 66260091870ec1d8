"""Preprocessing specs (what the model was trained with) and the kernels that apply them. Every
spec speaks the Spec protocol (mmedge.preprocess.spec); spec_from_dict finds its class by kind."""

from __future__ import annotations

import sys

from mmedge.preprocess import audio_spec, image_formats
from mmedge.preprocess.audio import (
    LogMelStream,
    MfccStream,
    Resampler,
    audio,
    logmel,
    mel_filters,
    mfcc,
    resample,
)
from mmedge.preprocess.audio_spec import AudioSpec
from mmedge.preprocess.image import image, image_batch
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.preprocess.spec import SPEC_KINDS, Spec, register_spec, spec_from_dict
from mmedge.preprocess.video import FrameStack, VideoSpec, video_clip

# mmedge 0.1 defined the specs and the kernel tables in the kernel modules: reachable there too.
_image, _audio = sys.modules["mmedge.preprocess.image"], sys.modules["mmedge.preprocess.audio"]
_image.ImageSpec = ImageSpec  # type: ignore[attr-defined]
for _name in image_formats.__all__:
    setattr(_image, _name, getattr(image_formats, _name))
_audio.AudioSpec = AudioSpec  # type: ignore[attr-defined]
for _name in ("FLT_EPSILON", "WINDOWS", "PADDINGS", "FEATURES", "LAYOUTS"):
    setattr(_audio, _name, getattr(audio_spec, _name))

__all__ = [
    "SPEC_KINDS",
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
    "register_spec",
    "resample",
    "spec_from_dict",
    "video_clip",
]
