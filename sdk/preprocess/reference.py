"""NumPy float64 references of the preprocessing math, written for clarity, not speed.

They define what the C++ and CUDA kernels compute (tests hold the kernels to them) and can serve
as training-time preprocessing where the kernels are not available.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmedge.preprocess.image_reference import (
    INTERPOLATIONS,
    antialias_matrix,
    area_matrix,
    axis_matrix,
    cubic_matrix,
    image,
    linear_taps,
    nearest_matrix,
    pil_matrix,
    source_values,
)

__all__ = [
    "INTERPOLATIONS",
    "antialias_matrix",
    "area_matrix",
    "axis_matrix",
    "cubic_matrix",
    "image",
    "linear_taps",
    "nearest_matrix",
    "pil_matrix",
    "source_values",
]


# -- audio ----------------------------------------------------------------------------------------


def audio_window(spec: Any) -> np.ndarray:
    """The win_length analysis window in float64 (periodic: divide by n, else n - 1)."""
    n = spec.win_length
    periodic = spec.window_periodic and spec.window != "povey"
    a = 2 * np.pi * np.arange(n) / (n if periodic else max(n - 1, 1))
    c = getattr(spec, "blackman_coeff", 0.42)
    return {
        "hann": 0.5 - 0.5 * np.cos(a),
        "hamming": 0.54 - 0.46 * np.cos(a),
        "povey": (0.5 - 0.5 * np.cos(a)) ** 0.85,
        "rectangular": np.ones(n),
        "blackman": c - 0.5 * np.cos(a) + (0.5 - c) * np.cos(2 * a),
        "sine": np.sin(a / 2),
    }[spec.window]


def hz_to_mel(hz: np.ndarray | float, scale: str) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 1127.0 * np.log1p(hz / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(
        hz >= min_log_hz,
        min_log_hz / f_sp + np.log(np.maximum(hz, 1e-30) / min_log_hz) / logstep,
        hz / f_sp,
    )


def mel_to_hz(mel: np.ndarray, scale: str) -> np.ndarray:
    if scale == "htk":
        return 700.0 * np.expm1(mel / 1127.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel
    )


def mel_matrix(spec: Any) -> np.ndarray:
    """(n_mels, n_fft/2 + 1) float64 filters: librosa layout (triangles in Hz between mel-spaced
    points, optional Slaney norm) or Kaldi layout (triangles in mel, Nyquist bin left out)."""
    bins = spec.n_fft // 2 + 1
    freqs = np.arange(bins) * spec.sample_rate_hz / spec.n_fft
    lo, hi = (
        hz_to_mel(spec.fmin_hz, spec.mel_scale),
        hz_to_mel(spec.fmax_resolved_hz, spec.mel_scale),
    )
    points = lo + (hi - lo) * np.arange(spec.n_mels + 2) / (spec.n_mels + 1)
    m = np.zeros((spec.n_mels, bins))
    if spec.mel_filters == "librosa":
        edges = mel_to_hz(points, spec.mel_scale)
        for b in range(spec.n_mels):
            lower = (freqs - edges[b]) / (edges[b + 1] - edges[b])
            upper = (edges[b + 2] - freqs) / (edges[b + 2] - edges[b + 1])
            m[b] = np.maximum(0, np.minimum(lower, upper))
            if spec.slaney_norm:
                m[b] *= 2.0 / (edges[b + 2] - edges[b])
        norm = {"l1": 1, "l2": 2, "max": np.inf}.get(getattr(spec, "filter_norm", "none"))
        if norm is not None:  # librosa.util.normalize(axis=-1), threshold: tiny float32
            length = np.linalg.norm(m, ord=norm, axis=1, keepdims=True)
            m = np.where(length >= np.finfo(np.float32).tiny, m / np.maximum(length, 1e-300), m)
        return m
    mels = hz_to_mel(freqs[:-1], spec.mel_scale)
    for b in range(spec.n_mels):
        left, centre, right = points[b], points[b + 1], points[b + 2]
        inside = (mels > left) & (mels < right)
        up = (mels - left) / (centre - left)
        down = (right - mels) / (right - centre)
        m[b, :-1] = np.where(inside, np.where(mels <= centre, up, down), 0.0)
    return m


def audio_frames(samples: np.ndarray, spec: Any) -> np.ndarray:
    """(frames, win_length) float64 samples of every frame, padded as spec.padding says."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if spec.padding == "snip_edges":
        count = 0 if n < spec.win_length else 1 + (n - spec.win_length) // spec.hop_length
        starts = np.arange(count) * spec.hop_length
        return (
            np.stack([x[s : s + spec.win_length] for s in starts])
            if count
            else np.zeros((0, spec.win_length))
        )
    count = spec.num_frames(n)  # librosa: 1 + (n + 2 (n_fft // 2) - n_fft) // hop
    if count == 0:
        return np.zeros((0, spec.win_length))
    if spec.padding == "kaldi_centered":  # Kaldi ExtractWindow: mirrored, -1 -> 0, n -> n - 1
        starts = np.arange(count) * spec.hop_length + spec.hop_length // 2 - spec.win_length // 2
        index = starts[:, None] + np.arange(spec.win_length)[None, :]
        while ((index < 0) | (index >= n)).any():
            index = np.where(index < 0, -index - 1, np.where(index >= n, 2 * n - 1 - index, index))
        return x[index]
    offset = spec.n_fft // 2 - (spec.n_fft - spec.win_length) // 2
    pad = offset + spec.win_length + spec.hop_length
    mode = "constant" if spec.padding == "center_zero" else "reflect"
    padded = np.pad(x, (pad, pad), mode=mode) if n > 1 or mode == "constant" else np.pad(x, pad)
    starts = np.arange(count) * spec.hop_length - offset + pad
    return np.stack([padded[s : s + spec.win_length] for s in starts])


def _features(samples: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray]:
    frames = audio_frames(samples, spec) * spec.sample_scale
    if spec.remove_dc:
        frames = frames - frames.mean(axis=1, keepdims=True)
    raw = frames
    if spec.preemphasis:
        frames = np.concatenate(
            [
                frames[:, :1] * (1 - spec.preemphasis),
                frames[:, 1:] - spec.preemphasis * frames[:, :-1],
            ],
            axis=1,
        )
    shaped = frames * audio_window(spec)
    measured = raw if getattr(spec, "raw_energy", True) else shaped  # Kaldi raw_energy
    energy = np.log(np.maximum((measured**2).sum(axis=1), np.finfo(np.float32).eps))
    if spec.energy_floor > 0:
        energy = np.maximum(energy, np.log(spec.energy_floor))
    spectrum = np.fft.rfft(shaped, n=spec.n_fft, axis=1)
    power = np.abs(spectrum) ** spec.power
    mel = power @ mel_matrix(spec).T
    if spec.log == "db":
        out = 10 * np.log10(np.maximum(mel, spec.log_floor)) - 10 * np.log10(
            max(spec.log_floor, spec.db_ref)
        )
        if spec.top_db is not None and out.size:
            out = np.maximum(out, out.max() - spec.top_db)
        if getattr(spec, "db_ref_max", False) and out.size:  # librosa ref=np.max
            out = out - out.max()
    elif spec.log == "none":
        out = mel
    else:
        out = np.log(np.maximum(mel, spec.log_floor))
    return out, energy


def _mean_removed(out: np.ndarray, spec: Any) -> np.ndarray:
    if getattr(spec, "subtract_mean", False) and len(out):
        return out - out.mean(axis=0)
    return out


def logmel(samples: np.ndarray, spec: Any) -> np.ndarray:
    """The float64 (frames, n_mels) that mmedge.preprocess.logmel computes; Kaldi's energy
    column first (last with htk_compat) with fbank_energy."""
    out, energy = _features(samples, spec)
    if getattr(spec, "fbank_energy", False):
        columns = [out, energy[:, None]]
        out = np.concatenate(columns if spec.htk_compat else columns[::-1], axis=1)
    return _mean_removed(out, spec)


def dct_matrix(dct_type: int, ortho: bool, n: int) -> np.ndarray:
    """(n, n) float64 DCT matrix, out = M @ x, as scipy.fft.dct(x, type, norm) defines it."""
    k, m = np.arange(n)[:, None], np.arange(n)[None, :]
    if dct_type == 1:
        mat = np.cos(np.pi * k * m / (n - 1))
        if ortho:
            edge = np.where((np.arange(n) == 0) | (np.arange(n) == n - 1), np.sqrt(0.5), 1.0)
            return np.sqrt(2.0 / (n - 1)) * edge[:, None] * edge[None, :] * mat
        mat = 2.0 * mat
        mat[:, 0], mat[:, -1] = 1.0, np.where(np.arange(n) % 2, -1.0, 1.0)
        return mat
    if dct_type == 3:
        mat = np.cos(np.pi * m * (2 * k + 1) / (2.0 * n))
        scale = (
            np.where(m == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
            if ortho
            else np.where(m == 0, 1.0, 2.0)
        )
        return mat * scale
    mat = np.cos(np.pi / n * (m + 0.5) * k)
    return mat * (np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n)) if ortho else 2.0)


def mfcc(samples: np.ndarray, spec: Any) -> np.ndarray:
    """The float64 (frames, n_mfcc) that mmedge.preprocess.mfcc computes: orthonormal DCT-II of
    the log-mel, lifter, and the ln frame energy as C0 with use_energy."""
    logmel_, energy = _features(samples, spec)
    n = spec.n_mels
    out = (
        logmel_
        @ dct_matrix(getattr(spec, "dct_type", 2), getattr(spec, "dct_ortho", True), n)[
            : spec.n_mfcc
        ].T
    )
    if spec.lifter > 0:
        i = np.arange(spec.n_mfcc) + (1 if spec.lifter_style == "librosa" else 0)
        out = out * (1 + 0.5 * spec.lifter * np.sin(np.pi * i / spec.lifter))
    if spec.use_energy:
        out[:, 0] = energy
    if getattr(spec, "htk_compat", False):  # Kaldi: C0 (or the energy) last, C0 * sqrt(2)
        out = np.concatenate([out[:, 1:], out[:, :1] * (1.0 if spec.use_energy else np.sqrt(2))], 1)
    return _mean_removed(out, spec)
