"""Hostile inputs (issue 9): NaN/Inf and empty audio, raw audio without its rate, strided and
reversed YUV views. Each was silently turned into an answer before."""

from __future__ import annotations

import numpy as np
import pytest

import mmedge
import mmedge.preprocess as pp
from mmedge.errors import PreprocessError
from mmedge.sources import SyntheticScene

AUDIO = mmedge.builtin_bundle("scene_audio")


@pytest.fixture(scope="module")
def audio_model() -> mmedge.Model:
    with mmedge.Model(AUDIO) as model:
        yield model


def _speech(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A second of the synthetic scene's audio (a real classifier input for this bundle)."""
    scene = SyntheticScene(seconds, seed=3, sample_rate_hz=rate)
    return np.concatenate([c.samples for c in scene.audio])


def test_nan_and_inf_audio_is_refused_with_count_and_position(audio_model: mmedge.Model) -> None:
    """Before: all-NaN audio was classified 'circle' at 0.63."""
    x = _speech()
    x[100:103] = np.nan
    x[5000] = np.inf
    with pytest.raises(
        PreprocessError, match=r"hold 4 NaN or Inf values of 16000 \(first at index 100\)"
    ):
        audio_model.predict(x, sample_rate=16000)
    with pytest.raises(PreprocessError, match="16000 NaN or Inf"):
        audio_model.predict(np.full(16000, np.nan, np.float32), sample_rate=16000)
    with pytest.raises(PreprocessError, match="NaN or Inf"):
        pp.mfcc(np.full(400, -np.inf, np.float32), audio_model.spec)


def test_empty_audio_is_refused(audio_model: mmedge.Model) -> None:
    """Before: empty audio returned a label, where the README promises PreprocessError."""
    with pytest.raises(PreprocessError, match="samples are empty"):
        audio_model.predict(np.zeros(0, np.float32), sample_rate=16000)
    with pytest.raises(PreprocessError, match="samples are empty"):
        pp.audio(np.zeros(0, np.float32), audio_model.spec)


def test_raw_audio_needs_its_rate(audio_model: mmedge.Model) -> None:
    """Before: 8 kHz audio without sample_rate was read as 16 kHz: a wrong answer, no error.
    With the rate it equals the audio resampled by hand (SciPy's polyphase resampler is the
    definition the kernel matches: tests/preprocess/test_resample.py)."""
    x8k = _speech(rate=8000)
    with pytest.raises(
        PreprocessError, match=r"sample_rate=HZ\) \(the model computes features at 16000 Hz"
    ):
        audio_model.predict(x8k)
    with pytest.raises(PreprocessError, match="needs its rates"):
        audio_model.predict_batch([x8k])
    scipy_signal = pytest.importorskip("scipy.signal")
    by_hand = scipy_signal.resample_poly(x8k.astype(np.float64), 2, 1).astype(np.float32)
    got = audio_model.predict(x8k, sample_rate=8000).outputs["logits"]
    want = audio_model.predict(by_hand, sample_rate=16000).outputs["logits"]
    np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.parametrize("fmt", ["NV12", "I420"])
@pytest.mark.parametrize("view", ["reversed", "every_2nd", "rows_reversed"])
def test_strided_yuv_views_equal_their_copies(
    fmt: str, view: str, video_frames: list[np.ndarray]
) -> None:
    """Before: a single-array NV12 frame viewed with a column step (f[:, ::-1], f[:, ::2]) was
    read as if its bytes were adjacent: always wrong, past the buffer at its end. The view must
    give what the same bytes laid out contiguously give (that path matches OpenCV's cvtColor:
    tests/preprocess/test_preprocess_image.py)."""
    import cv2

    bgr = video_frames[0][:240, :320]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # (360, 320); NV12 reads the same bytes
    wide = np.concatenate([yuv, yuv[:, ::-1]], axis=1)  # (360, 640): a 2-step view is 320 wide
    frame = {
        "reversed": yuv[:, ::-1],
        "every_2nd": wide[:, ::2],
        "rows_reversed": yuv[::-1],
    }[view]
    spec = pp.ImageSpec(96, 64, input_format=fmt)
    np.testing.assert_array_equal(
        pp.image(frame, spec), pp.image(np.ascontiguousarray(frame), spec)
    )


@pytest.mark.parametrize("driver", ["simd", "scalar"])
def test_the_kernels_finiteness_scan_is_numpys(driver: str) -> None:
    """The vectorised scan the input check uses (32 samples per step on AVX2) finds the first
    NaN or Inf exactly where np.isfinite does, at block edges and in the tail."""
    from mmedge import _C as C

    if driver == "simd" and C.audio_driver() not in ("avx2", "neon"):
        pytest.skip("this CPU or build has no vector (AVX2 or NEON) audio driver")
    C.force_scalar_driver(driver == "scalar")
    try:
        rng = np.random.default_rng(0)
        for n in (0, 1, 31, 32, 33, 1000, 160_000):
            assert C.first_nonfinite(np.zeros(n, np.float32)) == -1
            for pos in sorted({0, 31, 32, n // 2, n - 1} & set(range(n))):
                for bad in (np.nan, np.inf, -np.inf, np.float32(np.finfo(np.float32).max)):
                    x = rng.standard_normal(n).astype(np.float32)
                    x[pos] = bad
                    want = int(np.argmin(np.isfinite(x))) if not np.isfinite(x).all() else -1
                    assert C.first_nonfinite(x) == want, (n, pos, bad)
    finally:
        C.force_scalar_driver(False)
