"""Boxes between the network input and the frame: to_source inverts to_network, and both agree
with what the image kernel actually does to a rectangle drawn in a real frame, for every
geometry (stretch, OpenCV and Ultralytics letterboxes with their options, centre crop) and for
YUV input formats."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedge import preprocess
from mmedge.preprocess import ImageSpec
from mmedge.tasks import box_map, to_network, to_source

GEOMETRIES = {
    "stretch": {},
    "opencv": {"letterbox": "opencv"},
    "ultralytics": {"letterbox": "ultralytics"},
    "ultralytics_noscaleup": {"letterbox": "ultralytics", "letterbox_scaleup": False},
    "ultralytics_topleft": {"letterbox": "ultralytics", "letterbox_center": False},
    "ultralytics_auto": {"letterbox": "ultralytics", "letterbox_auto": True},
    "crop": {"resize_short_side": 700},
}


@settings(max_examples=300, deadline=None)
@given(
    geometry=st.sampled_from(sorted(GEOMETRIES)),
    src_w=st.integers(16, 2000),
    src_h=st.integers(16, 2000),
    out=st.sampled_from([(640, 640), (320, 192), (224, 224)]),
    corners=st.tuples(*(st.floats(0, 1) for _ in range(4))),
)
def test_forward_and_inverse_round_trip(geometry, src_w, src_h, out, corners) -> None:
    """Random boxes inside random frames: to_source(to_network(b)) == b within 0.5 px (it is
    exact up to float rounding; the bound is the issue's)."""
    options = dict(GEOMETRIES[geometry])
    if geometry == "crop":
        options["resize_short_side"] = max(out)
    spec = ImageSpec(*out, **options)
    x1, x2 = sorted((corners[0] * src_w, corners[2] * src_w))
    y1, y2 = sorted((corners[1] * src_h, corners[3] * src_h))
    box = np.array([[x1, y1, x2, y2]])
    back = to_source(to_network(box, spec, src_w, src_h), spec, src_w, src_h)
    np.testing.assert_allclose(back, box, rtol=0, atol=0.5)


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("fmt", ["BGR", "NV12"])
def test_the_map_follows_the_kernel(video_frames: list[np.ndarray], geometry: str, fmt) -> None:
    """A white rectangle drawn into a real frame, preprocessed (nearest: no blur), found again in
    the network input and mapped back: it lands on the drawn rectangle within one network pixel
    (the sampling grid), in source pixels."""
    cv2 = pytest.importorskip("cv2")
    frame = video_frames[0][:, :, :3].copy()  # 768x576
    h, w = frame.shape[:2]
    rect = (300, 230, 480, 340)  # x1, y1, x2, y2 in source px (edges); inside every crop
    frame[rect[1] : rect[3], rect[0] : rect[2]] = 255
    frame[: rect[1]] //= 2
    frame[rect[3] :] //= 2
    frame[:, : rect[0]] //= 2
    frame[:, rect[2] :] //= 2
    options = dict(GEOMETRIES[geometry], pad_value=0)
    spec = ImageSpec(320, 192, output_format="GRAY", interpolation="nearest_exact", **options)
    if fmt == "NV12":
        spec = dataclasses.replace(spec, input_format="NV12")
        i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
        u = i420[h : h + h // 4].reshape(h // 2, w // 2)
        v = i420[h + h // 4 :].reshape(h // 2, w // 2)
        source = np.concatenate([i420[:h], np.stack([u, v], -1).reshape(h // 2, w)])
    else:
        source = frame
    gray = preprocess.image(source, spec)[0, 0]
    ys, xs = np.nonzero(gray > 0.75)  # the rectangle: 1.0 (BGR) or Y = 235 (NV12); the rest <= 0.5
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float64)
    mapped = to_source(found, spec, w, h)[0]
    sx, _, sy, _, _, _ = box_map(spec, w, h)
    tolerance = np.array([sx, sy, sx, sy]) + 1e-3
    assert (np.abs(mapped - rect) <= tolerance).all(), (mapped, rect, tolerance)
