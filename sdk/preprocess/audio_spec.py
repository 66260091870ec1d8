"""`AudioSpec` holds every option of the feature pipeline and what the model takes (analysis
window, feature, layout); it travels in the bundle's manifest. Presets reproduce the libraries
models are trained with: `AudioSpec.librosa(...)` (librosa 0.11: centred zero padding, periodic
Hann, Slaney mel and norm, power_to_db with top_db 80, DCT-II ortho) and `AudioSpec.kaldi(...)`
(kaldi-native-fbank: snip_edges, DC removal, pre-emphasis 0.97, povey window, HTK mel 20 Hz to
Nyquist, natural log, lifter 22, energy as C0), each with its library's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess.audio import audio as audio_input
from mmedge.preprocess.audio_checks import check_audio_spec
from mmedge.preprocess.audio_presets import (
    kaldi_samples,
    kaldi_window,
    librosa_padding_and_norm,
)
from mmedge.preprocess.spec import register_spec

FLT_EPSILON = float(np.finfo(np.float32).eps)
# The values of the kernel's enum options, as it names them (declared once, in the binding).
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    k: tuple(v) for k, v in C.FEATURE_OPTION_VALUES.items()
}
WINDOWS = OPTION_VALUES["window"]
PADDINGS = OPTION_VALUES["padding"]
FEATURES = ("mfcc", "logmel")
LAYOUTS = ("NTF", "NFT", "N1FT")


@register_spec
@dataclass(frozen=True)
class AudioSpec:
    """How mono samples become a model input (MFCC or log-mel frames).

    sample_rate_hz: rate the features are computed at; other rates are resampled to it.
    n_fft, win_length, hop_length: FFT size, analysis window and frame shift, in samples.
    window: hann | hamming | povey | rectangular | blackman | sine; window_periodic: scipy's
        fftbins=True; blackman_coeff: Kaldi's (0.42).
    padding: center_zero (librosa center=True, pad_mode='constant'), center_reflect
        (pad_mode='reflect'), snip_edges (Kaldi: only whole frames from sample 0),
        kaldi_centered (Kaldi snip_edges=false: frame f centred on f * hop + hop / 2,
        (n + hop / 2) // hop frames, the edges mirrored).
    sample_scale: samples are multiplied by this first (Kaldi models trained on int16-scale
        audio use 32768). remove_dc, preemphasis: per-frame Kaldi steps.
    power: 2 power spectrum, 1 magnitude. n_mels, fmin_hz, fmax_hz (None: Nyquist; negative:
        Nyquist + value, as Kaldi), mel_scale slaney | htk, mel_filters librosa | kaldi (how the
        triangles are laid out), slaney_norm (equal-area triangles) or filter_norm none | l1 |
        l2 | max (librosa norm=1, 2, inf: each filter of unit p-norm).
    log: db (10 log10(max(log_floor, x)) - 10 log10(max(log_floor, db_ref)); db_ref_max: the
        signal's maximum instead, librosa's ref=np.max, batch only), ln
        (ln(max(x, log_floor))) or none (the mel energies; logmel features only). top_db:
        librosa's clamp to (maximum - top_db) over the whole signal, in dB; None for none (a
        stream must use None: it cannot see the future).
    n_mfcc, dct_type 1 | 2 | 3 and dct_ortho (scipy's DCT, orthonormal or not; MFCC are the
        orthonormal DCT-II), lifter (0: none), lifter_style kaldi | librosa, use_energy
        (C0 := ln frame energy), energy_floor (linear; 0: none), raw_energy (the energy before
        pre-emphasis and window, Kaldi's default; False: after), htk_compat (Kaldi: C0 or the
        energy last, C0 times sqrt(2)), subtract_mean (Kaldi: each coefficient's mean over the
        signal's frames subtracted; batch only, streams refuse it); both applied after the
        kernels. fbank_energy (Kaldi FbankOptions.use_energy): a log-mel feature gets the ln
        frame energy (raw_energy, energy_floor as for MFCC) as an extra column, first (last with
        htk_compat); batch only.
    analysis_seconds: the model's input length: samples are zero-padded or trimmed to it, so
        the tensor always has the same frame count (None: whatever the signal gives).
    feature: what the model takes, mfcc or logmel; layout: NTF (1, frames, coeffs), NFT
        (1, coeffs, frames) or N1FT (1, 1, coeffs, frames).
    """

    sample_rate_hz: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    window: str = "hann"
    window_periodic: bool = True
    padding: str = "center_zero"
    sample_scale: float = 1.0
    remove_dc: bool = False
    preemphasis: float = 0.0
    power: float = 2.0
    n_mels: int = 40
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    mel_scale: str = "slaney"
    mel_filters: str = "librosa"
    slaney_norm: bool = True
    log: str = "db"
    log_floor: float = 1e-10
    db_ref: float = 1.0
    top_db: float | None = 80.0
    n_mfcc: int = 13
    dct_type: int = 2
    dct_ortho: bool = True
    lifter: float = 0.0
    lifter_style: str = "librosa"
    use_energy: bool = False
    energy_floor: float = 0.0
    raw_energy: bool = True
    analysis_seconds: float | None = None
    feature: str = "mfcc"
    layout: str = "NTF"
    blackman_coeff: float = 0.42
    filter_norm: str = "none"
    htk_compat: bool = False
    subtract_mean: bool = False
    db_ref_max: bool = False
    fbank_energy: bool = False
    kind: str = field(default="audio", init=False)

    def __post_init__(self) -> None:
        check_audio_spec(self, OPTION_VALUES, FEATURES, LAYOUTS)

    # -- presets ------------------------------------------------------------------------------

    @classmethod
    def librosa(
        cls,
        sample_rate_hz: int = 22050,
        *,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: int | None = None,
        n_mels: int = 128,
        n_mfcc: int = 20,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        norm: str | float | None = "slaney",
        pad_mode: str = "constant",
        power: float = 2.0,
        top_db: float | None = 80.0,
        lifter: float = 0.0,
        ref: float | Callable[..., Any] = 1.0,
        dct_type: int = 2,
        dct_norm: str | None = "ortho",
        **model: Any,
    ) -> AudioSpec:
        """librosa.feature.mfcc / melspectrogram + power_to_db, with librosa 0.11's defaults
        (keyword names as librosa's). norm: 'slaney', None, or 1, 2, np.inf (filters of unit
        p-norm). pad_mode: constant or reflect (librosa's other numpy modes are refused).
        ref: power_to_db's reference: a power, or np.max (dB below the signal's maximum).
        dct_type, dct_norm: librosa.feature.mfcc's dct_type and norm ('ortho' or None).
        `model`: analysis_seconds, feature, layout."""
        padding, filter_norm = librosa_padding_and_norm(pad_mode, norm)
        if dct_norm not in ("ortho", None):
            raise PreprocessError(
                f"AudioSpec.librosa: dct_norm must be 'ortho' or None, got {dct_norm!r}"
            )
        if callable(ref) and ref is not np.max:
            raise PreprocessError("AudioSpec.librosa: ref must be a power (float) or np.max")
        return cls(
            sample_rate_hz=sample_rate_hz,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length or n_fft,
            window="hann",
            window_periodic=True,
            padding=padding,
            power=power,
            n_mels=n_mels,
            fmin_hz=fmin,
            fmax_hz=fmax,
            mel_scale="htk" if htk else "slaney",
            mel_filters="librosa",
            slaney_norm=norm == "slaney",
            filter_norm=filter_norm,
            log="db",
            log_floor=1e-10,
            db_ref=1.0 if callable(ref) else float(ref),
            db_ref_max=callable(ref),
            top_db=top_db,
            n_mfcc=n_mfcc,
            dct_type=dct_type,
            dct_ortho=dct_norm == "ortho",
            lifter=lifter,
            lifter_style="librosa",
            **model,
        )

    @classmethod
    def kaldi(
        cls,
        sample_rate_hz: int = 16000,
        *,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        num_mel_bins: int = 23,
        num_ceps: int = 13,
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        preemph_coeff: float = 0.97,
        window_type: str = "povey",
        remove_dc_offset: bool = True,
        round_to_power_of_two: bool = True,
        snip_edges: bool = True,
        use_power: bool = True,
        use_log_fbank: bool = True,
        raw_energy: bool = True,
        htk_compat: bool = False,
        subtract_mean: bool = False,
        use_energy: bool | None = None,
        energy_floor: float = 0.0,
        cepstral_lifter: float = 22.0,
        sample_scale: float = 1.0,
        blackman_coeff: float = 0.42,
        **model: Any,
    ) -> AudioSpec:
        """kaldi-native-fbank's MfccOptions / FbankOptions (dither 0), with its defaults and
        option names. Frame length and shift in samples are truncated, as Kaldi's
        WindowSize()/WindowShift() do (int(samp_freq * 0.001 * ms) over float32 options).
        window_type: povey, hamming, hanning (symmetric), hann (periodic, as
        kaldi-native-fbank's), rectangular, blackman (blackman_coeff), sine. snip_edges=False:
        Kaldi's centred frames (icefall, lhotse and sherpa use them). use_power=False: the
        magnitude spectrum, use_log_fbank=False: the mel energies themselves (FbankOptions).
        htk_compat: Kaldi's MFCC order (and the fbank energy column's). use_energy defaults as
        in Kaldi: True for MFCC (C0 := energy), False for fbank (feature='logmel'; True adds
        the energy column: fbank_energy). A logmel (fbank) spec keeps num_ceps within
        num_mel_bins. `model`: analysis_seconds, feature, layout."""
        win = kaldi_samples(sample_rate_hz, frame_length_ms)
        hop = kaldi_samples(sample_rate_hz, frame_shift_ms)
        n_fft = 1 << (win - 1).bit_length() if round_to_power_of_two else win
        window, periodic = kaldi_window(window_type)
        fbank = model.get("feature") == "logmel"
        if fbank:  # the cepstra are not computed
            num_ceps = min(num_ceps, num_mel_bins)
        return cls(
            sample_rate_hz=sample_rate_hz,
            n_fft=n_fft,
            win_length=win,
            hop_length=hop,
            window=window,
            window_periodic=periodic,
            blackman_coeff=blackman_coeff,
            padding="snip_edges" if snip_edges else "kaldi_centered",
            sample_scale=sample_scale,
            remove_dc=remove_dc_offset,
            preemphasis=preemph_coeff,
            power=2.0 if use_power else 1.0,
            n_mels=num_mel_bins,
            fmin_hz=low_freq,
            fmax_hz=high_freq,
            mel_scale="htk",
            mel_filters="kaldi",
            slaney_norm=False,
            log="ln" if use_log_fbank else "none",
            log_floor=FLT_EPSILON,
            top_db=None,
            n_mfcc=num_ceps,
            lifter=cepstral_lifter,
            lifter_style="kaldi",
            use_energy=not fbank if use_energy is None else use_energy and not fbank,
            fbank_energy=fbank and bool(use_energy),
            energy_floor=energy_floor,
            raw_energy=raw_energy,
            htk_compat=htk_compat,
            subtract_mean=subtract_mean,
            **model,
        )

    # -- derived ------------------------------------------------------------------------------

    @property
    def fmax_resolved_hz(self) -> float:
        """The upper mel edge in Hz: fmax_hz, Nyquist when None, Nyquist + fmax_hz if <= 0."""
        nyquist = self.sample_rate_hz / 2
        if self.fmax_hz is None:
            return nyquist
        return nyquist + self.fmax_hz if self.fmax_hz <= 0 else float(self.fmax_hz)

    @property
    def coefficients(self) -> int:
        """Values per frame of the model's feature (n_mfcc, or n_mels plus the fbank energy)."""
        return self.n_mfcc if self.feature == "mfcc" else self.n_mels + int(self.fbank_energy)

    def num_frames(self, num_samples: int) -> int:
        """Frames a signal of num_samples yields (the kernel's count: C.FeatureExtractor)."""
        if self.padding == "snip_edges":
            return (
                0
                if num_samples < self.win_length
                else 1 + (num_samples - self.win_length) // self.hop_length
            )
        if self.padding == "kaldi_centered":  # Kaldi snip_edges=false
            return (num_samples + self.hop_length // 2) // self.hop_length
        padded = num_samples + 2 * (self.n_fft // 2)  # librosa: n_fft // 2 on each side
        return 0 if padded < self.n_fft else 1 + (padded - self.n_fft) // self.hop_length

    @property
    def analysis_samples(self) -> int | None:
        """Samples of the model's analysis window, or None."""
        if self.analysis_seconds is None:
            return None
        return round(self.analysis_seconds * self.sample_rate_hz)

    def tensor_shape(self) -> tuple[int | str, ...]:
        """Shape of the model input for one window ('frames' when the window is not fixed)."""
        t: int | str = (
            "frames" if self.analysis_samples is None else self.num_frames(self.analysis_samples)
        )
        f = self.coefficients
        return {"NTF": (1, t, f), "NFT": (1, f, t), "N1FT": (1, 1, f, t)}[self.layout]

    def kernel_params(self) -> dict[str, Any]:
        """The dict mmedge._C's feature kernels take: every option the kernel declares
        (C.FEATURE_OPTIONS, the fields of the same names), fmax_hz resolved to Hz."""
        params = {name: getattr(self, name) for name in C.FEATURE_OPTIONS}
        params["fmax_hz"] = float(self.fmax_resolved_hz)
        params["use_energy"] = self.use_energy or self.fbank_energy  # MFCC column 0
        return params

    # -- the Spec protocol (mmedge.preprocess.spec) --------------------------------------------

    def apply(self, sample: Any, *, sample_rate_hz: int | None = None) -> np.ndarray:
        """Mono samples (at sample_rate_hz, default this spec's rate) -> the model input
        (mmedge.preprocess.audio: resample, pad or trim, features, layout)."""
        return audio_input(sample, self, sample_rate_hz)

    def apply_batch(
        self, samples: Sequence[Any], *, sample_rates: Sequence[int | None] | None = None
    ) -> np.ndarray:
        rates = list(sample_rates) if sample_rates is not None else [None] * len(samples)
        rows = [self.apply(s, sample_rate_hz=r) for s, r in zip(samples, rates, strict=True)]
        shapes = sorted({r.shape for r in rows})
        if len(shapes) > 1:
            raise PreprocessError(
                f"a batch of audio needs one length: these give inputs of shapes {shapes[:3]} "
                "(a spec without analysis_seconds keeps each recording's length: predict them "
                "one at a time, or cut them to one length)"
            )
        return np.concatenate(rows)

    def dynamic_axes(self) -> dict[int, str]:
        """The time axis is dynamic ('frames') when the spec fixes no analysis window."""
        if self.analysis_samples is not None:
            return {}
        return {{"NTF": 1, "NFT": 2, "N1FT": 3}[self.layout]: "frames"}

    def sample_shape(self) -> tuple[int | str, ...]:
        return self.tensor_shape()[1:]

    def random_sample(self, rng: np.random.Generator) -> np.ndarray:
        """Gaussian noise of RMS 0.1 over the analysis window (1 s without one)."""
        n = self.analysis_samples or self.sample_rate_hz
        return (0.1 * rng.standard_normal(n)).astype(np.float32)

    def replace(self, **changes: Any) -> AudioSpec:
        """A copy with some fields changed (e.g. spec.replace(top_db=None) for streaming)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the bundle manifest."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AudioSpec:
        """Inverse of to_dict(); rejects unknown keys."""
        if d.get("kind", "audio") != "audio":
            raise PreprocessError(f"not an audio spec: kind is {d.get('kind')!r}")
        known = {f for f in cls.__dataclass_fields__ if f != "kind"}
        unknown = sorted(set(d) - known - {"kind"})
        if unknown:
            raise PreprocessError(f"AudioSpec does not know the keys {unknown}")
        return cls(**{k: v for k, v in d.items() if k in known})
