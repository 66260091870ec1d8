"""How the peers' option names map onto AudioSpec's fields: Kaldi's (kaldi-native-fbank) frame
lengths and window names, librosa's pad modes and filter norms. AudioSpec.kaldi and
AudioSpec.librosa build specs with them."""

from __future__ import annotations

import numpy as np

from mmedge.errors import PreprocessError

# Kaldi's window_type names -> (window, periodic). kaldi-native-fbank's "hann" is periodic
# (torch.hann_window), Kaldi's "hanning" symmetric; the others are symmetric.
KALDI_WINDOWS: dict[str, tuple[str, bool]] = {
    "povey": ("povey", False),
    "hamming": ("hamming", False),
    "hanning": ("hann", False),
    "hann": ("hann", True),
    "rectangular": ("rectangular", False),
    "blackman": ("blackman", False),
    "sine": ("sine", False),
}
LIBROSA_PADDINGS = {"constant": "center_zero", "reflect": "center_reflect"}
LIBROSA_NORMS = {1: "l1", 2: "l2", float("inf"): "max"}


def kaldi_samples(sample_rate_hz: int, ms: float) -> int:
    """Kaldi's WindowSize()/WindowShift(): static_cast<int32>(samp_freq * 0.001 * ms), its
    options being float32 (so 25 ms at 11025 Hz is 275 samples, not 276)."""
    return int(float(np.float32(sample_rate_hz)) * 0.001 * float(np.float32(ms)))


def kaldi_window(window_type: str) -> tuple[str, bool]:
    """(AudioSpec.window, window_periodic) of a Kaldi window_type."""
    if window_type not in KALDI_WINDOWS:
        raise PreprocessError(
            f"AudioSpec.kaldi: window_type must be one of {', '.join(KALDI_WINDOWS)}, got "
            f"{window_type!r}"
        )
    return KALDI_WINDOWS[window_type]


def librosa_padding_and_norm(pad_mode: str, norm: str | float | None) -> tuple[str, str]:
    """(AudioSpec.padding, filter_norm) of librosa's pad_mode and mel norm (slaney_norm is set
    by the preset from norm == 'slaney')."""
    if pad_mode not in LIBROSA_PADDINGS:
        raise PreprocessError(
            f"AudioSpec.librosa: pad_mode must be one of {', '.join(LIBROSA_PADDINGS)}, got "
            f"{pad_mode!r} (numpy's other pad modes are not supported)"
        )
    if norm is None or norm == "slaney":
        return LIBROSA_PADDINGS[pad_mode], "none"
    if norm not in LIBROSA_NORMS:
        raise PreprocessError(
            f"AudioSpec.librosa: norm must be 'slaney', None, 1, 2 or np.inf, got {norm!r}"
        )
    return LIBROSA_PADDINGS[pad_mode], LIBROSA_NORMS[norm]  # type: ignore[index]
