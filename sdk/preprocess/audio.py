"""Audio preprocessing: MFCC and log-mel of an `AudioSpec` (batch, streaming, CPU or CUDA), the
model input for one clip (`audio()`), and resampling. The feature kernels are mmedge._C's; a
float32 device array runs the CUDA ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess import cuda
from mmedge.preprocess._checks import require_finite

if TYPE_CHECKING:
    from mmedge.preprocess.audio_spec import AudioSpec

_EXTRACTORS: dict[Any, Any] = {}


def _extractor(spec: AudioSpec) -> Any:
    """The kernel's extractor for a spec (tables built once per spec and kept)."""
    ex = _EXTRACTORS.get(spec)
    if ex is None:
        if len(_EXTRACTORS) > 64:
            _EXTRACTORS.clear()
        ex = _EXTRACTORS[spec] = C.FeatureExtractor(spec.kernel_params())
    return ex


def as_samples(samples: Any, what: str = "samples") -> np.ndarray:
    """Mono float32 samples in [-1, 1]: float arrays as they are, int16 / int32 PCM scaled by
    their full range. Raises PreprocessError for other shapes and types."""
    if not isinstance(samples, np.ndarray):
        raise PreprocessError(f"{what} must be a numpy array, got {type(samples).__name__}")
    if samples.ndim != 1:
        raise PreprocessError(
            f"{what} must be mono (1-D), got shape {samples.shape}; mix down or pick a channel"
        )
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype == np.int32:
        return samples.astype(np.float32) / 2147483648.0
    if samples.dtype.kind != "f":
        raise PreprocessError(f"{what} dtype must be float or int16/int32 PCM, got {samples.dtype}")
    x = np.ascontiguousarray(samples, dtype=np.float32)
    require_finite(x, what)
    return x


def htk_order(mfcc: Any, spec: AudioSpec) -> Any:
    """Kaldi htk_compat: C0 (or the energy) moved last, C0 scaled by sqrt(2) when it is not the
    energy (one common DCT definition's factor). Rows (..., n_mfcc) of a host array."""
    if not spec.htk_compat or mfcc.shape[-1] == 0:
        return mfcc
    n = mfcc.shape[-1]
    out = mfcc[..., [*range(1, n), 0]]
    if not spec.use_energy:
        out[..., n - 1] *= np.float32(np.sqrt(2.0))
    return out


def _post(out: np.ndarray, spec: AudioSpec, feature: str) -> np.ndarray:
    """The steps after the kernels: Kaldi's htk_compat order (MFCC) and subtract_mean (the
    mean of each coefficient over the signal's frames, Kaldi's cepstral mean subtraction)."""
    if feature == "mfcc":
        out = htk_order(out, spec)
    if spec.subtract_mean and len(out):
        out = out - out.mean(axis=0, dtype=np.float64).astype(np.float32)
    return out


def _relative_to_max(ex: Any, x: np.ndarray, spec: AudioSpec, feature: str) -> np.ndarray:
    """librosa power_to_db(ref=np.max): the log-mel in dB below its maximum over the signal.
    For MFCC that shift moves C0 only (orthonormal DCT-II: by -max * sqrt(n_mels), times C0's
    lifter), unless C0 is the energy. Costs a second pass for MFCC."""
    logmel = ex.logmel(x, spec.top_db)
    peak = float(logmel.max()) if logmel.size else 0.0
    if feature == "logmel":
        return logmel - np.float32(peak)
    out = ex.mfcc(x, spec.top_db)
    if not spec.use_energy and len(out):
        k = 1 if spec.lifter_style == "librosa" else 0
        lift = 1 + 0.5 * spec.lifter * np.sin(np.pi * k / spec.lifter) if spec.lifter > 0 else 1
        out[:, 0] -= np.float32(peak * np.sqrt(spec.n_mels) * lift)
    return out


def _with_energy(ex: Any, x: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """Kaldi's fbank with use_energy: the ln frame energy (the MFCC pass's column 0, computed
    in the same pass) before the mel bins, or after them with htk_compat."""
    logmel, mfcc = ex.logmel_and_mfcc(x, spec.top_db)
    energy = mfcc[:, :1]
    return np.concatenate([logmel, energy] if spec.htk_compat else [energy, logmel], axis=1)


def _run(samples: Any, spec: AudioSpec, feature: str) -> Any:
    if hasattr(samples, "__cuda_array_interface__"):
        if (
            spec.subtract_mean
            or spec.db_ref_max
            or spec.fbank_energy
            or (spec.htk_compat and feature == "mfcc")
        ):
            raise PreprocessError(
                "htk_compat, subtract_mean, db_ref_max and fbank_energy are not available on "
                "device arrays: use host samples"
            )
        return cuda.audio_features(samples, spec, feature)
    x = as_samples(samples)
    try:
        ex = _extractor(spec)
        if spec.db_ref_max:
            return _post(_relative_to_max(ex, x, spec, feature), spec, feature)
        if feature == "mfcc":
            return _post(ex.mfcc(x, spec.top_db), spec, feature)
        if spec.fbank_energy:
            return _post(_with_energy(ex, x, spec), spec, feature)
        return _post(ex.logmel(x, spec.top_db), spec, feature)
    except ValueError as exc:
        raise PreprocessError(str(exc)) from exc


def mfcc(samples: Any, spec: AudioSpec) -> Any:
    """(frames, n_mfcc) float32 MFCC of mono samples at spec.sample_rate_hz. A float32 device
    array ((n,) or (batch, n)) runs on the GPU and returns a device array."""
    return _run(samples, spec, "mfcc")


def logmel(samples: Any, spec: AudioSpec) -> Any:
    """(frames, n_mels) float32 log-mel spectrogram of mono samples at spec.sample_rate_hz (a
    device array runs on the GPU, as mfcc()); (frames, n_mels + 1) with spec.fbank_energy
    (Kaldi's fbank energy column)."""
    return _run(samples, spec, "logmel")


def resample(samples: Any, from_hz: int, to_hz: int) -> np.ndarray:
    """Mono samples from from_hz to to_hz: polyphase windowed sinc with the filter and alignment
    of scipy.signal.resample_poly (Kaiser beta 5); ceil(n * to / from) samples out."""
    x = as_samples(samples)
    if from_hz == to_hz:
        return x.copy()
    try:
        return C.resample(x, int(from_hz), int(to_hz))
    except ValueError as exc:
        raise PreprocessError(str(exc)) from exc


class Resampler:
    """Streaming resample(): push() chunks of any size, flush() at the end; the outputs
    concatenated equal resample() of the whole signal."""

    def __init__(self, from_hz: int, to_hz: int) -> None:
        try:
            self._r = C.Resampler(int(from_hz), int(to_hz))
        except ValueError as exc:
            raise PreprocessError(str(exc)) from exc
        self.from_hz, self.to_hz = int(from_hz), int(to_hz)

    def push(self, chunk: Any) -> np.ndarray:
        return self._r.push(as_samples(chunk, "chunk"))

    def flush(self) -> np.ndarray:
        return self._r.flush()


class _FeatureStream:
    def __init__(self, spec: AudioSpec, feature: str) -> None:
        if spec.top_db is not None:
            raise PreprocessError(
                "a stream cannot apply top_db: it clamps to the maximum of the whole signal, "
                "which a stream has not seen yet; use spec.replace(top_db=None) (the librosa "
                "preset's top_db only raises values 80 dB below the loudest frame)"
            )
        if spec.db_ref_max:
            raise PreprocessError(
                "a stream cannot take dB relative to the signal's maximum (db_ref_max): it has "
                "not seen it yet; use a fixed db_ref"
            )
        if spec.subtract_mean:
            raise PreprocessError(
                "a stream cannot subtract the mean over the signal's frames (subtract_mean): it "
                "has not seen them yet; subtract a running mean of your own, or use the batch call"
            )
        if spec.fbank_energy and feature == "logmel":
            raise PreprocessError(
                "the fbank energy column (fbank_energy) is batch only: streams emit the log-mel "
                "rows; use the batch call, or an MFCC stream with use_energy for the energy"
            )
        self.spec = spec
        self._mfcc = feature == "mfcc"
        self._stream = C.FeatureStream(spec.kernel_params(), self._mfcc)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return htk_order(rows, self.spec) if self._mfcc else rows

    def push(self, chunk: Any) -> np.ndarray:
        """Appends samples; returns the (k, coeffs) rows of the frames that became complete."""
        return self._rows(self._stream.push(as_samples(chunk, "chunk")))

    def flush(self) -> np.ndarray:
        """Ends the signal (padding it as the batch call does) and returns the last rows; the
        stream then starts over."""
        return self._rows(self._stream.flush())

    @property
    def frames_emitted(self) -> int:
        return self._stream.frames_emitted


class MfccStream(_FeatureStream):
    """MFCC of a live signal: fed the same samples in any chunk sizes, push() + flush() return
    exactly (bit for bit) the frames of mfcc() on the whole signal."""

    def __init__(self, spec: AudioSpec) -> None:
        super().__init__(spec, "mfcc")


class LogMelStream(_FeatureStream):
    """Log-mel of a live signal, frame for frame equal to logmel()."""

    def __init__(self, spec: AudioSpec) -> None:
        super().__init__(spec, "logmel")


def audio(samples: Any, spec: AudioSpec, sample_rate_hz: int | None = None) -> np.ndarray:
    """The model input for one clip: resampled to spec.sample_rate_hz (from sample_rate_hz when
    given), zero-padded or trimmed to the analysis window, featurised (spec.feature) and laid
    out as spec.layout (NTF: (1, frames, coeffs), NFT, N1FT)."""
    x = as_samples(samples)
    if x.size == 0:
        raise PreprocessError("samples are empty (0 samples): nothing to classify")
    if sample_rate_hz is not None and int(sample_rate_hz) != spec.sample_rate_hz:
        x = resample(x, int(sample_rate_hz), spec.sample_rate_hz)
    n = spec.analysis_samples
    if n is not None:
        x = x[:n] if len(x) >= n else np.concatenate([x, np.zeros(n - len(x), np.float32)])
    return lay_out(_run(x, spec, spec.feature), spec)


def lay_out(feats: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """(frames, coeffs) features as the model takes them (batch 1): spec.layout NTF (1, frames,
    coeffs), NFT (1, coeffs, frames) or N1FT (1, 1, coeffs, frames)."""
    if spec.layout == "NTF":
        return feats[None]
    if spec.layout == "NFT":
        return np.ascontiguousarray(feats.T)[None]
    return np.ascontiguousarray(feats.T)[None, None]


def mel_filters(spec: AudioSpec) -> np.ndarray:
    """(n_mels, n_fft/2 + 1) mel filter matrix the spec uses."""
    return C.mel_filters(spec.kernel_params())


def frame_seconds(spec: AudioSpec, frame: int) -> tuple[float, float]:
    """[t0, t1] in seconds of the samples frame `frame` covers (clipped at 0)."""
    start = frame * spec.hop_length
    if spec.padding != "snip_edges":
        start -= spec.n_fft // 2 - (spec.n_fft - spec.win_length) // 2
    t0 = max(start, 0) / spec.sample_rate_hz
    return t0, (start + spec.win_length) / spec.sample_rate_hz


__all__ = [
    "LogMelStream",
    "MfccStream",
    "Resampler",
    "audio",
    "frame_seconds",
    "logmel",
    "mel_filters",
    "mfcc",
    "resample",
]
