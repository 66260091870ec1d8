"""mmedge's own real FFT (the one the audio features run) against numpy.fft.rfft."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedge._ext import C

# float32 arithmetic over log2(n) stages: relative error ~1e-7 * log2(n); Bluestein (other
# sizes) adds two more FFTs. 2e-6 of the largest magnitude leaves a margin of ~10.
TOL = 2e-6


@pytest.mark.parametrize(
    "n",
    [
        2,
        4,
        8,
        64,
        256,
        512,
        1024,
        4096,  # powers of two
        3,
        5,
        7,
        400,
        441,
        1000,
        1023,
        2047,
        882,
    ],
)  # Bluestein
def test_matches_numpy(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours = C.rfft(x)
    ref = np.fft.rfft(x.astype(np.float64))
    assert ours.shape == ref.shape and ours.dtype == np.complex64
    assert np.abs(ours - ref).max() <= TOL * np.abs(ref).max()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 3000), seed=st.integers(0, 2**32 - 1))
def test_any_size(n: int, seed: int) -> None:
    x = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    ref = np.fft.rfft(x.astype(np.float64))
    assert np.abs(C.rfft(x) - ref).max() <= TOL * max(np.abs(ref).max(), 1e-6)


def test_impulse_and_dc() -> None:
    impulse = np.zeros(512, np.float32)
    impulse[0] = 1
    np.testing.assert_allclose(C.rfft(impulse), np.ones(257), atol=1e-7)
    np.testing.assert_allclose(C.rfft(np.ones(400, np.float32))[1:], 0, atol=1e-4)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        C.rfft(np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="must be 1-D"):
        C.rfft(np.zeros((2, 4), np.float32))
