"""mmedge.preprocess.resample / Resampler against scipy.signal.resample_poly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from audio_data import bird, fsdd_clips
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedge import PreprocessError
from mmedge.preprocess import Resampler, resample

# Same filter and alignment as scipy; scipy filters in float32 for float32 input, we accumulate
# in float64: the difference is scipy's own rounding, ~1e-7 of the signal's peak. Asserted: 1e-5.
TOL = 1e-5
RATES = [8000, 16000, 22050, 44100, 48000]


@pytest.mark.parametrize("from_hz", RATES)
@pytest.mark.parametrize("to_hz", [16000, 22050, 48000])
def test_matches_scipy(from_hz: int, to_hz: int) -> None:
    x = np.random.default_rng(from_hz + to_hz).uniform(-1, 1, from_hz // 4).astype(np.float32)
    ours = resample(x, from_hz, to_hz)
    g = np.gcd(from_hz, to_hz)
    ref = scipy.signal.resample_poly(x.astype(np.float64), to_hz // g, from_hz // g)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= TOL * np.abs(ref).max()


def test_real_recordings(data_dir) -> None:
    for name, x, rate in fsdd_clips(data_dir, 3):
        ref = scipy.signal.resample_poly(x.astype(np.float64), 2, 1)
        assert np.abs(resample(x, rate, 16000) - ref).max() <= TOL * np.abs(ref).max(), name
    x, rate = bird(data_dir)
    ref = scipy.signal.resample_poly(x.astype(np.float64), 160, 441)
    assert np.abs(resample(x, rate, 16000) - ref).max() <= TOL * np.abs(ref).max()


@settings(max_examples=40, deadline=None)
@given(
    from_hz=st.sampled_from(RATES),
    to_hz=st.sampled_from(RATES),
    n=st.integers(0, 5000),
    chunk_seed=st.integers(0, 2**32 - 1),
)
def test_stream_equals_batch(from_hz, to_hz, n, chunk_seed) -> None:
    rng = np.random.default_rng(chunk_seed)
    x = rng.uniform(-1, 1, n).astype(np.float32)
    r = Resampler(from_hz, to_hz)
    parts, i = [], 0
    while i < n:
        k = int(rng.integers(1, 800))
        parts.append(r.push(x[i : i + k]))
        i += k
    parts.append(r.flush())
    expected = resample(x, from_hz, to_hz)
    np.testing.assert_array_equal(np.concatenate(parts), expected)
    assert len(expected) == -(-n * to_hz // from_hz)  # ceil(n * to / from)


def test_errors() -> None:
    with pytest.raises(PreprocessError, match="sample rates must be positive"):
        resample(np.zeros(10, np.float32), 0, 16000)
    with pytest.raises(PreprocessError, match="must be mono"):
        resample(np.zeros((10, 2), np.float32), 8000, 16000)
    with pytest.raises(PreprocessError, match="over the 65536 supported"):
        Resampler(96001, 16001)
