"""Field checks the preprocessing specs share."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError


def require_positive_ints(spec: Any, names: tuple[str, ...], unit: str = "") -> None:
    """Raises PreprocessError naming the first of spec's fields `names` that is not an int > 0
    (bools are refused; NumPy integers pass). unit, e.g. ' (px)', goes into the message."""
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise PreprocessError(
                f"{type(spec).__name__}.{name} must be a positive int{unit}, got {value!r}"
            )


# Resource bounds: a spec beyond them is refused when it is made (a manifest that asks for
# more would hang a worker or exhaust memory before the first result).
MAX_IMAGE_SIDE_PX = 16384
"""Largest model input width or height, px (OpenCV's own limit is 32767)."""
MAX_N_FFT = 1 << 16
"""Largest FFT size, samples."""
MAX_FFT_POINTS_PER_S = 1 << 24
"""Largest n_fft x frames per second of audio (n_fft * sample_rate_hz / hop_length): 2**24 is
n_fft 4096 at 4096 frames/s, some 300x the work of n_fft 512 at 100 frames/s."""
MAX_CLIP_FRAMES = 1024
"""Most frames a video clip may span (clip_len * stride)."""


def require_at_most(spec: Any, what: str, value: float, limit: float, hint: str = "") -> None:
    """Raises PreprocessError when value > limit, naming the spec's field(s) `what`."""
    if value > limit:
        raise PreprocessError(
            f"{type(spec).__name__}.{what} is {value:,.0f}, over the limit of {limit:,.0f}{hint}"
        )


def require_finite(x: np.ndarray, what: str) -> None:
    """Raises PreprocessError when x holds NaN or Inf, with their count and the first one's
    position: a NaN in the input is a broken sensor or decoder, and every kernel would turn it
    into something that looks valid (silence, a label)."""
    fast = x.dtype == np.float32 and x.flags.c_contiguous  # one vectorised pass in the kernels
    if fast and C.first_nonfinite(x) < 0:
        return
    finite = np.isfinite(x)
    if not finite.all():
        bad = finite.size - int(np.count_nonzero(finite))
        first = tuple(int(i) for i in np.unravel_index(int(np.argmin(finite)), x.shape))
        where = first[0] if len(first) == 1 else first
        raise PreprocessError(
            f"{what} hold {bad} NaN or Inf value{'s' if bad > 1 else ''} of {x.size} (first at "
            f"index {where}): refusing to compute features from them; clean the input first "
            "(e.g. np.nan_to_num) if that is what you want"
        )
