"""Named preprocessing specs for `mmedge export --preprocess PRESET` (a JSON spec file works for
anything else). Each preset states what it reproduces."""

from __future__ import annotations

import json
from pathlib import Path

from mmedge import preprocess as pp
from mmedge.errors import ExportError, PreprocessError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

PRESETS: dict[str, pp.Spec] = {
    # MNIST's own pixel statistics (train set mean/std of x / 255), 28x28 grey.
    "mnist": pp.ImageSpec(
        28, 28, input_format="GRAY", output_format="GRAY", mean=(0.1307,), std=(0.3081,)
    ),
    # torchvision ImageNet classification: RGB 224x224, ImageNet mean/std.
    "imagenet-224": pp.ImageSpec(224, 224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # Ultralytics YOLOv5/v8 detection input: letterboxed 640x640 RGB, x / 255, grey 114 border.
    "yolo-640": pp.ImageSpec(640, 640, letterbox="ultralytics", pad_value=114.0),
    # Spoken digits (FSDD) and keyword models: librosa MFCC, 40 coefficients from 40 mel bands
    # up to 4 kHz, 25 ms / 10 ms at 16 kHz, a 1 s window, (1, 1, 40, 101).
    "fsdd-mfcc": pp.AudioSpec.librosa(
        16000,
        n_fft=512,
        win_length=400,
        hop_length=160,
        n_mels=40,
        n_mfcc=40,
        fmax=4000.0,
        analysis_seconds=1.0,
        feature="mfcc",
        layout="N1FT",
    ),
    # The same as log-mel frames (1, 101, 40) for recurrent models.
    "fsdd-logmel": pp.AudioSpec.librosa(
        16000,
        n_fft=512,
        win_length=400,
        hop_length=160,
        n_mels=40,
        fmax=4000.0,
        analysis_seconds=1.0,
        feature="logmel",
        layout="NTF",
    ),
    # Kaldi / kaldi-native-fbank MFCC at 16 kHz (13 ceps, 23 bins, energy), 1 s, (1, 98, 13).
    "kaldi-mfcc-16k": pp.AudioSpec.kaldi(16000, analysis_seconds=1.0, layout="NTF"),
    # torchvision video models (R(2+1)D, R3D on Kinetics): 16 frames of 112x112 RGB, NCTHW.
    "kinetics-112": pp.VideoSpec(16, pp.ImageSpec(112, 112, mean=KINETICS_MEAN, std=KINETICS_STD)),
}


def read_spec(text: str) -> pp.Spec:
    """A preset name, a JSON file, or inline JSON -> the spec (dispatch on its 'kind')."""
    if text in PRESETS:
        return PRESETS[text]
    stripped = text.lstrip()
    if stripped.startswith("{"):
        raw = text
    else:
        path = Path(text)
        if not path.is_file():
            raise ExportError(
                f"--preprocess {text!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor "
                "a JSON file"
            )
        raw = path.read_text(encoding="utf-8")
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ExportError(f"--preprocess is not valid JSON: {exc}") from exc
    if isinstance(d, dict) and "kind" not in d:
        d = {"kind": "image", **d}  # a bare ImageSpec dict, as mmedge 0.1 wrote them
    try:
        return pp.spec_from_dict(d)
    except (PreprocessError, TypeError, KeyError) as exc:
        raise ExportError(f"--preprocess: {exc}") from exc
