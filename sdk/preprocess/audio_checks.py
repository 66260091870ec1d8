"""AudioSpec's checks, at construction: names, resource bounds, the combinations the
definitions exclude, the kernel's own checks and Kaldi's refusal of an empty mel band."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess._checks import (
    MAX_FFT_POINTS_PER_S,
    MAX_N_FFT,
    require_at_most,
    require_positive_ints,
)


def check_audio_spec(
    spec: Any,
    option_values: Mapping[str, tuple[str, ...]],
    features: tuple[str, ...],
    layouts: tuple[str, ...],
) -> None:
    """Raises PreprocessError naming the first field of `spec` (an AudioSpec) that is wrong."""
    require_positive_ints(
        spec,
        ("sample_rate_hz", "n_fft", "win_length", "hop_length", "n_mels", "n_mfcc", "dct_type"),
    )
    for name, allowed in (*option_values.items(), ("feature", features), ("layout", layouts)):
        if getattr(spec, name) not in allowed:
            raise PreprocessError(
                f"AudioSpec.{name} must be one of {', '.join(allowed)}, got {getattr(spec, name)!r}"
            )
    require_at_most(spec, "n_fft", spec.n_fft, MAX_N_FFT)
    require_at_most(
        spec,
        "n_fft * sample_rate_hz / hop_length (FFT points per second of audio)",
        spec.n_fft * spec.sample_rate_hz / spec.hop_length,
        MAX_FFT_POINTS_PER_S,
        ": raise hop_length or lower n_fft",
    )
    if spec.win_length > spec.n_fft:
        raise PreprocessError(
            f"AudioSpec.win_length ({spec.win_length}) must not exceed n_fft ({spec.n_fft})"
        )
    if spec.n_mfcc > spec.n_mels:
        raise PreprocessError(
            f"AudioSpec.n_mfcc ({spec.n_mfcc}) must not exceed n_mels ({spec.n_mels})"
        )
    if spec.top_db is not None and not spec.top_db > 0:
        raise PreprocessError(f"AudioSpec.top_db must be positive or None, got {spec.top_db}")
    if spec.fbank_energy and (spec.feature != "logmel" or spec.db_ref_max):
        raise PreprocessError(
            "AudioSpec.fbank_energy (Kaldi's fbank energy column) needs feature='logmel' and no "
            "db_ref_max; MFCC take the energy as C0 (use_energy)"
        )
    if spec.db_ref_max and spec.log != "db":
        raise PreprocessError(f"AudioSpec.db_ref_max needs log='db', not log={spec.log!r}")
    if spec.feature == "mfcc" and spec.log == "none":
        raise PreprocessError("AudioSpec: MFCC need a log (log='db' or 'ln'), not log='none'")
    if spec.top_db is not None and spec.log != "db":
        raise PreprocessError(
            f"AudioSpec.top_db ({spec.top_db}) is a clamp in dB: it needs log='db', not "
            f"log={spec.log!r} (set top_db=None)"
        )
    if spec.analysis_seconds is not None and not spec.analysis_seconds > 0:
        raise PreprocessError(
            f"AudioSpec.analysis_seconds must be positive or None, got {spec.analysis_seconds}"
        )
    try:  # the kernel's own checks (mel band inside Nyquist, power, floors, ...)
        C.FeatureExtractor(spec.kernel_params())
    except ValueError as exc:
        raise PreprocessError(f"AudioSpec: {exc}") from exc
    if spec.mel_filters == "kaldi":  # Kaldi refuses a filter bank with an empty band
        empty = np.flatnonzero(~C.mel_filters(spec.kernel_params()).any(axis=1))
        if empty.size:
            raise PreprocessError(
                f"AudioSpec: mel band {int(empty[0])} of {spec.n_mels} covers no FFT bin "
                f"(n_fft {spec.n_fft} at {spec.sample_rate_hz} Hz); Kaldi refuses this: "
                "lower n_mels (num_mel_bins) or raise n_fft"
            )
