"""The vector drivers (NEON on aarch64, AVX2 on x86) against the scalar reference and the float64
definitions, on real data: the first frame of two video clips through three image specs, six
FSDD recordings through MFCC and log-mel. Prints JSON: max |difference| in output units for
images, relative to the largest magnitude for audio. scripts/aarch64_check.sh runs it in the
arm64 root (its full set); it runs on x86 too.

    MMEDGE_DATA=../shared/data python scripts/neon_exactness.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from mmedge import _C as C
from mmedge import preprocess as pp
from mmedge.datasets import data_dir, read_wav
from mmedge.preprocess import AudioSpec, ImageSpec, reference

IMAGE_SPECS = {
    "224 stretch, ImageNet mean/std": ImageSpec(
        224, 224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
    ),
    "640 letterbox, /255": ImageSpec(640, 640, letterbox="ultralytics", pad_value=114),
    "320x192, float16 out": ImageSpec(320, 192, dtype="float16"),
}


def both_drivers(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(vector driver's result, scalar driver's result), float64."""
    fast = run().astype(np.float64)
    C.force_scalar_driver(True)
    try:
        slow = run().astype(np.float64)
    finally:
        C.force_scalar_driver(False)
    return fast, slow


def images() -> dict[str, Any]:
    frames = []
    for clip in ("cup.mp4", "box.mp4"):
        ok, frame = cv2.VideoCapture(str(data_dir() / "video_clips" / clip)).read()
        assert ok, clip
        frames.append(frame)
    out = {}
    for name, spec in IMAGE_SPECS.items():
        vs_scalar = vs_exact = 0.0
        for f in frames:
            fast, slow = both_drivers(lambda f=f, spec=spec: pp.image(f, spec))
            vs_scalar = max(vs_scalar, float(np.abs(fast - slow).max()))
            vs_exact = max(vs_exact, float(np.abs(fast - reference.image(f, spec)).max()))
        out[name] = {"max_abs_vs_scalar": vs_scalar, "max_abs_vs_float64": vs_exact}
    return out


def audio() -> dict[str, Any]:
    clips = sorted((data_dir() / "fsdd" / "recordings").glob("*.wav"))[:6]
    out = {}
    for feature in ("mfcc", "logmel"):
        spec = AudioSpec.librosa(8000, n_fft=256, win_length=200, hop_length=80, n_mels=40,
                                 n_mfcc=13, feature=feature)  # fmt: skip
        run, exact = (
            (pp.mfcc, reference.mfcc) if feature == "mfcc" else (pp.logmel, reference.logmel)
        )
        vs_scalar = vs_exact = 0.0
        for path in clips:
            x, _ = read_wav(path)
            fast, slow = both_drivers(lambda x=x, spec=spec, run=run: run(x, spec))
            ref = exact(x, spec)
            big = float(np.abs(ref).max())
            vs_scalar = max(vs_scalar, float(np.abs(fast - slow).max()) / big)
            vs_exact = max(vs_exact, float(np.abs(fast - ref).max()) / big)
        out[feature] = {"max_rel_vs_scalar": vs_scalar, "max_rel_vs_float64": vs_exact}
    return out


if __name__ == "__main__":
    report = {"image_driver": C.cpu_simd(), "audio_driver": C.audio_driver()}
    report |= {"image_2_frames": images(), "audio_fsdd_6_clips": audio()}
    print(json.dumps(report, indent=1))
