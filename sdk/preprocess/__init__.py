"""Preprocessing specs (what the model was trained with) and the kernels that apply them. Every
spec speaks the Spec protocol (mmedge.preprocess.spec); spec_from_dict finds its class by kind."""

from __future__ import annotations

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
