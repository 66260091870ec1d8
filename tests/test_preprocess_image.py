"""mmedge.preprocess.image: the fused C++ kernel against a float64 NumPy reference of the same
math, against OpenCV on real frames, and its errors."""

from __future__ import annotations

import threading

import mmedge
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmedge import PreprocessError, preprocess
from mmedge._ext import C
from mmedge.preprocess import ImageSpec, reference

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
# Normalised units per grey level for the ImageNet std: 1 / (255 * 0.224) ~ 0.0175.
# 1e-4 is ~0.006 grey levels: float32 rounding, far below anything a model could notice.
REF_TOL = 1e-4
# AVX2 (fused multiply-add) and scalar drivers round differently in the last bits.
DRIVER_TOL = 2e-6


def rng_image(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    shape = (h, w) if c == 0 else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(params=["avx2", "scalar"])
def driver(request: pytest.FixtureRequest):
    """Runs a test once per CPU driver (the AVX2 one only where the CPU has it)."""
    if request.param == "avx2" and C.cpu_simd() != "avx2":
        pytest.skip("this CPU or build has no AVX2 driver")
    C.force_scalar_driver(request.param == "scalar")
    yield request.param
    C.force_scalar_driver(False)


@pytest.mark.parametrize(
    ("src_hw", "dst_wh"),
    [
        ((1080, 1920), (224, 224)),  # strong downscale
        ((28, 28), (224, 224)),  # 8x upscale
        ((37, 51), (17, 9)),  # odd sizes both ways
        ((1, 1), (5, 3)),  # one pixel
        ((1, 7), (3, 2)),  # one row
        ((9, 1), (2, 4)),  # one column
        ((480, 640), (640, 480)),  # up in one axis, down in the other
        ((100, 100), (100, 100)),  # identity
    ],
)
@pytest.mark.parametrize("fmt", [("BGR", "RGB"), ("RGB", "RGB"), ("GRAY", "GRAY"), ("GRAY", "RGB")])
def test_matches_float64_reference(
    driver: str, src_hw: tuple[int, int], dst_wh: tuple[int, int], fmt: tuple[str, str]
) -> None:
    rng = np.random.default_rng(hash((src_hw, dst_wh)) % 2**32)
    spec = ImageSpec(
        *dst_wh, input_format=fmt[0], output_format=fmt[1], **({} if fmt[1] == "GRAY" else IMAGENET)
    )
    img = rng_image(rng, *src_hw, spec.input_channels)
    out = preprocess.image(img, spec)
    assert out.shape == (1, spec.channels, dst_wh[1], dst_wh[0])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference.image(img, spec), rtol=0, atol=REF_TOL)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 300),
    oh=st.integers(1, 300),
    ow=st.integers(1, 300),
    channels=st.sampled_from(["GRAY", "BGR"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_sizes_match_reference(
    h: int, w: int, oh: int, ow: int, channels: str, seed: int
) -> None:
    spec = ImageSpec(
        ow,
        oh,
        input_format=channels,
        output_format=channels,
        **({} if channels == "GRAY" else IMAGENET),
    )
    img = rng_image(np.random.default_rng(seed), h, w, spec.input_channels)
    np.testing.assert_allclose(
        preprocess.image(img, spec), reference.image(img, spec), rtol=0, atol=REF_TOL
    )


@pytest.mark.parametrize(
    "view", ["crop", "step", "flip_rows", "flip_cols", "channels_reversed", "fortran"]
)
def test_non_contiguous_input(driver: str, view: str) -> None:
    rng = np.random.default_rng(1)
    base = rng_image(rng, 200, 300, 3)
    img = {
        "crop": base[13:180, 21:290],
        "step": base[::2, ::3],
        "flip_rows": base[::-1],
        "flip_cols": base[:, ::-1],
        "channels_reversed": base[..., ::-1],
        "fortran": np.asfortranarray(base),
    }[view]
    assert not img.flags.c_contiguous
    spec = ImageSpec(96, 64, input_format="BGR", output_format="RGB", **IMAGENET)
    out = preprocess.image(img, spec)
    # Views without packed pixels take the scalar driver, their copy may take AVX2 (FMA).
    np.testing.assert_allclose(
        out, preprocess.image(np.ascontiguousarray(img), spec), rtol=0, atol=DRIVER_TOL
    )
    np.testing.assert_allclose(out, reference.image(img, spec), rtol=0, atol=REF_TOL)


def test_drivers_agree() -> None:
    """AVX2 and scalar drivers compute the same floats (FMA contraction aside: within 1 ulp-ish)."""
    if C.cpu_simd() != "avx2":
        pytest.skip("this CPU or build has no AVX2 driver")
    rng = np.random.default_rng(2)
    img = rng_image(rng, 720, 1280, 3)
    spec = ImageSpec(640, 384, **IMAGENET)
    fast = preprocess.image(img, spec)
    C.force_scalar_driver(True)
    try:
        slow = preprocess.image(img, spec)
    finally:
        C.force_scalar_driver(False)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=DRIVER_TOL)


def test_float16_output_is_rounded_float32(driver: str) -> None:
    """float16 output equals the float32 result rounded to nearest-even, bit for bit."""
    rng = np.random.default_rng(3)
    img = rng_image(rng, 333, 517, 3)
    spec32 = ImageSpec(211, 97, **IMAGENET)
    spec16 = ImageSpec(211, 97, dtype="float16", **IMAGENET)
    out16 = preprocess.image(img, spec16)
    assert out16.dtype == np.float16
    np.testing.assert_array_equal(
        out16.view(np.uint16), preprocess.image(img, spec32).astype(np.float16).view(np.uint16)
    )


def test_half_rounding_edge_cases() -> None:
    """The kernel's float->half conversion at ties, subnormals, overflow and NaN, via a 1x1 image
    whose single value is mapped by alpha/beta onto each test value."""
    values = np.array(
        [
            0.0,
            1.0,
            65504.0,
            65519.0,
            65520.0,
            1e9,
            -1e9,
            2.0**-24,
            2.0**-25,
            3 * 2.0**-26,
            6.1e-5,
            1.0 + 2.0**-11,
            1.0 + 3 * 2.0**-11,
            np.nan,
        ],
        dtype=np.float32,
    )
    src = np.zeros((1, 1, 1), np.uint8)
    for v in values:
        out = np.empty((1, 1, 1), np.float16)
        C.resize_normalize(
            src, out, src_channel=[0], alpha=[1.0], beta=[float(v)], pad=[0.0], roi=(0, 0, 1, 1)
        )
        with np.errstate(over="ignore"):  # overflow to inf is the expected result
            expected = np.float32(v).astype(np.float16)
        if np.isnan(v):
            assert np.isnan(out[0, 0, 0])
        else:
            assert out.view(np.uint16)[0, 0, 0] == expected.view(np.uint16), v


def test_matches_opencv_on_real_frames(video_frames: list[np.ndarray]) -> None:
    """Against cv2.resize(INTER_LINEAR) on uint8 frames, then the same normalisation.

    Bound: 1 grey level (asserted as max |ours - cv2| <= 1.0 in 0..255 units), because OpenCV's
    uint8 path rounds its result to an integer (up to 0.5) and uses 11-bit fixed-point weights
    (each weight off by up to 2^-12, so up to 255 * 2 * 2^-12 ~ 0.12 per pass, two passes, plus
    truncating shifts); our kernel keeps float weights and no intermediate rounding. The mean
    difference must be near 0.25, the mean of a uniform rounding error: a systematic shift (a
    half-pixel convention error, a swapped channel) would show up far above it.
    """
    cv2 = pytest.importorskip("cv2")
    spec = ImageSpec(
        224, 224, input_format="BGR", output_format="RGB", scale=1.0, mean=(0, 0, 0), std=(1, 1, 1)
    )
    sizes = [(224, 224), (640, 640), (333, 197), (1920, 1080), (100, 75)]
    for frame in video_frames:
        for w, h in sizes:
            s = ImageSpec(
                w,
                h,
                input_format=spec.input_format,
                output_format=spec.output_format,
                scale=1.0,
                mean=spec.mean,
                std=spec.std,
            )
            ours = preprocess.image(frame, s)[0]
            theirs = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
            diff = np.abs(ours - theirs.transpose(2, 0, 1).astype(np.float32))
            assert diff.max() <= 1.0, (frame.shape, w, h, diff.max())
            assert diff.mean() <= 0.3, (frame.shape, w, h, diff.mean())


def test_normalisation_matches_opencv_blob(video_frames: list[np.ndarray]) -> None:
    """End to end against cv2.dnn.blobFromImageWithParams (resize, swapRB, mean, scale) at the
    same 1-grey-level bound, converted to normalised units."""
    cv2 = pytest.importorskip("cv2")
    frame = video_frames[0]
    mean = np.array(IMAGENET["mean"]) * 255
    std = np.array(IMAGENET["std"]) * 255
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple(1.0 / std)
    params.size = (224, 224)
    params.mean = tuple(mean)
    params.swapRB = True
    params.ddepth = cv2.CV_32F
    blob = cv2.dnn.blobFromImageWithParams(frame, params)
    ours = preprocess.image(frame, ImageSpec(224, 224, **IMAGENET))
    assert blob.shape == ours.shape
    per_channel_bound = 1.0 / std  # one grey level in normalised units
    diff = np.abs(ours - blob)[0]
    assert (diff.max(axis=(1, 2)) <= per_channel_bound + 1e-5).all()


def test_out_buffer_is_written_in_place() -> None:
    spec = ImageSpec(32, 24, **IMAGENET)
    img = rng_image(np.random.default_rng(4), 50, 60, 3)
    out = np.full((1, 3, 24, 32), np.nan, np.float32)
    result = preprocess.image(img, spec, out=out)
    assert result is out
    assert np.isfinite(out).all()
    chw = np.empty((3, 24, 32), np.float32)
    assert preprocess.image(img, spec, out=chw) is chw
    np.testing.assert_array_equal(chw, out[0])


def test_batch_matches_single_images() -> None:
    rng = np.random.default_rng(5)
    frames = [rng_image(rng, h, w, 3) for h, w in ((40, 50), (64, 64), (10, 300))]
    spec = ImageSpec(48, 32, **IMAGENET)
    batch = preprocess.image_batch(frames, spec)
    assert batch.shape == (3, 3, 32, 48)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(batch[i], preprocess.image(frame, spec)[0])


def test_threads_give_identical_results() -> None:
    img = rng_image(np.random.default_rng(6), 1080, 1920, 3)
    spec = ImageSpec(640, 640, **IMAGENET)
    before = mmedge.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            mmedge.set_num_threads(n)
            assert mmedge.get_num_threads() == n
            results.append(preprocess.image(img, spec))
    finally:
        mmedge.set_num_threads(0)
    assert mmedge.get_num_threads() == before
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_concurrent_callers_share_the_pool_safely() -> None:
    """Modality workers call the kernel at the same time; each result must be its own."""
    rng = np.random.default_rng(7)
    spec = ImageSpec(320, 320, **IMAGENET)
    frames = [rng_image(rng, 720, 1280, 3) for _ in range(4)]
    expected = [preprocess.image(f, spec) for f in frames]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(20):
            out = preprocess.image(frames[i], spec)
            if not np.array_equal(out, expected[i]):
                errors.append(f"thread {i} got another frame's result")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize(
    ("img", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "dtype must be uint8, got float32"),
        (
            np.zeros((2, 10, 10, 3), np.uint8),
            "rank 2 (H, W) or 3 (H, W, C), got shape (2, 10, 10, 3)",
        ),
        (np.zeros((10, 10, 4), np.uint8), "has 4 channels, spec.input_format BGR expects 3"),
        (np.zeros((10, 10), np.uint8), "one channel), but spec.input_format BGR expects 3"),
        (np.zeros((0, 10, 3), np.uint8), "empty: 0x10 px"),
        (np.zeros((10, 0, 3), np.uint8), "empty: 10x0 px"),
        ([[1, 2, 3]], "must be a numpy array"),
    ],
)
def test_bad_input_names_the_problem(img: object, message: str) -> None:
    with pytest.raises(PreprocessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preprocess.image(img, ImageSpec(8, 8))


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (np.empty((1, 3, 8, 9), np.float32), "out has shape"),
        (np.empty((1, 3, 8, 8), np.float64), "out dtype is float64"),
        (np.empty((1, 3, 8, 16), np.float32)[..., ::2], "C-contiguous"),
    ],
)
def test_bad_out_buffer(out: np.ndarray, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        preprocess.image(np.zeros((10, 10, 3), np.uint8), ImageSpec(8, 8), out=out)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0, "height": 8}, "width must be a positive int"),
        ({"width": 8, "height": 8.5}, "height must be a positive int"),
        ({"width": 8, "height": 8, "input_format": "YUYV"}, "input_format must be one of"),
        ({"width": 8, "height": 8, "mean": (0.5, 0.5)}, "mean needs 3 values for RGB, got 2"),
        ({"width": 8, "height": 8, "std": (1, 0, 1)}, "std must be finite and non-zero"),
        ({"width": 8, "height": 8, "dtype": "int8"}, "dtype must be one of"),
        (
            {"width": 8, "height": 8, "input_format": "RGB", "output_format": "GRAY"},
            "needs a weighted colour conversion",
        ),
    ],
)
def test_invalid_spec(kwargs: dict, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        ImageSpec(**kwargs)


def test_spec_round_trips_through_json() -> None:
    import json

    spec = ImageSpec(224, 160, input_format="BGR", output_format="RGB", dtype="float16", **IMAGENET)
    back = ImageSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert preprocess.spec_from_dict(spec.to_dict()) == spec
    with pytest.raises(PreprocessError, match="does not know the keys"):
        ImageSpec.from_dict({**spec.to_dict(), "widht": 3})


def test_kernel_releases_the_gil() -> None:
    """While one thread runs long kernels, another Python thread keeps running."""
    img = rng_image(np.random.default_rng(8), 2160, 3840, 3)
    spec = ImageSpec(1920, 1080, **IMAGENET)
    out = np.empty((1, 3, 1080, 1920), np.float32)
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    counter = threading.Thread(target=count)
    mmedge.set_num_threads(1)
    try:
        counter.start()
        for _ in range(10):
            preprocess.image(img, spec, out=out)
        stop.set()
        counter.join()
    finally:
        mmedge.set_num_threads(0)
    assert ticks > 1000  # with the GIL held the counter thread would barely run
