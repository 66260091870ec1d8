"""Every binding of mmedge._C driven with random shapes, dtypes, strides and parameter values:
each call either works (and returns what it promises) or raises ValueError / TypeError naming
the problem. A crash (segfault, abort) fails the whole run; under the AddressSanitizer build
(scripts/sanitize.sh) so does any out-of-bounds access."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmedge._ext import C

OK_ERRORS = (ValueError, TypeError)
DTYPES = [np.uint8, np.int8, np.uint16, np.float16, np.float32, np.float64, np.int32, np.bool_]
settings.register_profile(
    "fuzz", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def arrays(draw, max_dims: int = 4, max_side: int = 40):
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(ndim))
    dtype = draw(st.sampled_from(DTYPES))
    a = np.zeros(shape, dtype=dtype)
    if a.size and draw(st.booleans()):  # a strided or reversed view
        index = tuple(slice(None, None, draw(st.sampled_from([1, 2, -1]))) for _ in shape)
        a = a[index]
    return a


@settings(settings.get_profile("fuzz"))
@given(
    fmt=st.sampled_from(["packed", "NV12", "I420", "nv21", ""]),
    planes=st.lists(arrays(), max_size=4),
    out=arrays(),
    rows=st.integers(0, 5),
    cols=st.integers(0, 6),
    roi=st.tuples(*[st.integers(-3, 50)] * 4),
    interpolation=st.sampled_from(["bilinear", "area", "bilinear_antialias", "nearest", ""]),
)
def test_resize_normalize(fmt, planes, out, rows, cols, roi, interpolation) -> None:
    weight = [[0.5] * cols for _ in range(rows)]
    bias = [0.1] * rows
    pad = [0.0] * rows
    try:
        C.resize_normalize(fmt, planes, out, weight, bias, pad, roi, interpolation)
    except OK_ERRORS:
        return
    assert out.ndim == 3 and out.shape[0] == rows  # it only runs on a valid (C, H, W) out


@settings(settings.get_profile("fuzz"))
@given(
    h=st.integers(0, 30),
    w=st.integers(0, 30),
    c=st.integers(0, 5),
    oh=st.integers(0, 30),
    ow=st.integers(0, 30),
    dtype=st.sampled_from(DTYPES),
    roi=st.tuples(*[st.integers(-3, 35)] * 4),
    interpolation=st.sampled_from(["bilinear", "area", "bilinear_antialias"]),
)
def test_resize_normalize_near_valid(h, w, c, oh, ow, dtype, roi, interpolation) -> None:
    """Shapes close to valid ones reach the kernels themselves; outputs must be finite."""
    src = np.random.default_rng(h * 31 + w).integers(0, 256, (h, w, c), dtype=np.uint8)
    out = np.zeros((3, oh, ow), dtype=dtype)
    if out.dtype.kind == "f":
        out[:] = np.nan  # every element must be written
    weight = [[0.25] * min(c, 4)] * 3
    try:
        C.resize_normalize("packed", [src], out, weight, [0.0] * 3, [1.0] * 3, roi, interpolation)
    except OK_ERRORS:
        return
    assert np.isfinite(out.astype(np.float64)).all()


@settings(settings.get_profile("fuzz"))
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "sample_rate_hz": st.one_of(st.floats(-10, 50000), st.just(float("nan"))),
            "n_fft": st.integers(-4, 5000),
            "win_length": st.integers(-4, 5000),
            "hop_length": st.integers(-4, 2000),
            "n_mels": st.integers(-4, 300),
            "n_mfcc": st.integers(-4, 300),
            "fmin_hz": st.floats(-100, 30000),
            "fmax_hz": st.floats(-100, 30000),
            "power": st.floats(0, 3),
            "log_floor": st.floats(-1, 1),
            "preemphasis": st.floats(-1, 2),
            "window": st.sampled_from(["hann", "povey", "nope"]),
            "padding": st.sampled_from(["center_zero", "snip_edges", "center_reflect", "x"]),
            "log": st.sampled_from(["db", "ln", "log2"]),
            "bogus": st.integers(),
        },
    ),
    samples=arrays(max_dims=2, max_side=3000),
)
def test_feature_extractor(params, samples) -> None:
    try:
        ex = C.FeatureExtractor(params)
        out = ex.mfcc(samples, None)
    except OK_ERRORS:
        return
    assert out.ndim == 2 and np.isfinite(out).all()


@settings(settings.get_profile("fuzz"))
@given(chunks=st.lists(arrays(max_dims=2, max_side=900), max_size=6), mfcc=st.booleans())
def test_feature_stream(chunks, mfcc) -> None:
    stream = C.FeatureStream({"sample_rate_hz": 16000.0, "fmax_hz": 8000.0}, mfcc)
    for chunk in chunks:
        try:
            rows = stream.push(chunk)
        except OK_ERRORS:
            continue
        assert rows.ndim == 2
    assert stream.flush().ndim == 2


@settings(settings.get_profile("fuzz"))
@given(
    from_hz=st.integers(-5, 200000),
    to_hz=st.integers(-5, 200000),
    chunks=st.lists(arrays(max_dims=2, max_side=500), max_size=4),
)
def test_resampler(from_hz, to_hz, chunks) -> None:
    try:
        r = C.Resampler(from_hz, to_hz)
    except OK_ERRORS:
        return
    for chunk in chunks:
        with contextlib.suppress(OK_ERRORS):
            r.push(chunk)
    assert r.flush().ndim == 1


@settings(settings.get_profile("fuzz"))
@given(x=arrays(max_dims=2, max_side=3000))
def test_rfft(x) -> None:
    try:
        out = C.rfft(x)
    except OK_ERRORS:
        return
    assert out.shape == (x.shape[0] // 2 + 1,)


@settings(settings.get_profile("fuzz"))
@given(n=st.integers(-100, 100))
def test_threads(n) -> None:
    try:
        C.set_num_threads(n)
        assert 1 <= C.get_num_threads() <= 64
    finally:
        C.set_num_threads(0)
