"""mmedge._C.segment (cpp_ext/include/mmedge/segment/mask.h) against its definition: OpenCV's
INTER_LINEAR resize of the logits (cv2.resize itself for stretched and letterboxed inputs at
stride 1), then the first argmax; a float64 NumPy reference of the same map for strides,
letterboxes and centre crops. Pixels may differ only where the two best classes' interpolated
logits are within float rounding of each other (margin < 1e-4 in float64)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from segmentation_data import assert_masks_agree, reference, smooth_logits

from mmedge._ext import C
from mmedge.errors import PostprocessError
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.tasks.geometry import mask_map
from mmedge.tasks.masks import UNKNOWN
from mmedge.tasks.segmentation import SegmentationHead


def segment(logits: np.ndarray, m: np.ndarray, confidence: bool = False):
    masks, conf, nonfinite = C.segment(logits, m[None], confidence)
    return masks[0], None if conf is None else conf[0], int(nonfinite[0])


@pytest.mark.parametrize("seed", range(4))
def test_stretch_equals_cv2_resize_then_argmax(seed: int) -> None:
    spec = ImageSpec(width=80, height=60)
    logits = smooth_logits(11, 60, 80, seed)
    for w, h in ((640, 480), (333, 250), (50, 40)):  # up, odd, down
        m = mask_map(spec, w, h, 80, 60)
        got, _, bad = segment(logits, m)
        planes = cv2.resize(logits[0].transpose(1, 2, 0), (w, h), interpolation=cv2.INTER_LINEAR)
        expected = planes.argmax(2).astype(np.uint8)
        _, margin, _ = reference(logits, m)
        assert got.shape == (h, w) and bad == 0
        assert_masks_agree(got, expected, margin)


@pytest.mark.parametrize("letterbox", ["opencv", "ultralytics"])
def test_letterbox_samples_only_the_content(letterbox: str) -> None:
    """Stride 1: the letterbox's content region cut from the logits and resized with cv2 to
    the frame gives the mask; the padding never votes."""
    spec = ImageSpec(width=160, height=160, letterbox=letterbox)
    logits = smooth_logits(5, 160, 160, 7)
    logits[0, 4, :, :] = np.where(np.arange(160)[:, None] < 10, 50.0, logits[0, 4])  # padding
    for w, h in ((640, 480), (300, 500)):
        x, y, rw, rh = spec.resize_region(w, h)
        m = mask_map(spec, w, h, 160, 160)
        got, _, _ = segment(logits, m)
        crop = logits[0, :, y : y + rh, x : x + rw].transpose(1, 2, 0)
        expected = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR).argmax(2)
        assert_masks_agree(got, expected.astype(np.uint8), reference(logits, m)[1])


@pytest.mark.parametrize(
    "spec",
    [
        ImageSpec(width=128, height=96, letterbox="opencv"),
        ImageSpec(width=96, height=96, resize_short_side=110),
        ImageSpec(width=128, height=128, letterbox="ultralytics", letterbox_auto=True),
    ],
    ids=["letterbox-stride4", "centre-crop-stride4", "ultralytics-auto-stride4"],
)
def test_strided_heads_match_the_float64_definition(spec: ImageSpec) -> None:
    for w, h in ((640, 480), (480, 640)):
        tw, th = spec.tensor_size(w, h)
        logits = smooth_logits(7, th // 4, tw // 4, w)
        m = mask_map(spec, w, h, tw // 4, th // 4)
        got, _, _ = segment(logits, m)
        expected, margin, _ = reference(logits, m)
        assert_masks_agree(got, expected, margin)


def test_confidence_is_the_softmax_of_the_interpolated_logits() -> None:
    spec = ImageSpec(width=64, height=48)
    logits = smooth_logits(4, 48, 64, 3)
    m = mask_map(spec, 320, 240, 64, 48)
    fast, _, _ = segment(logits, m)
    full, conf, _ = segment(logits, m, confidence=True)
    expected, margin, softmax = reference(logits, m)
    assert_masks_agree(full, expected, margin)
    assert_masks_agree(fast, full, margin)
    np.testing.assert_allclose(conf, softmax, atol=1e-5)


def test_a_nonfinite_logit_marks_its_pixels_unknown() -> None:
    spec = ImageSpec(width=40, height=30)
    logits = smooth_logits(3, 30, 40, 5)
    logits[0, 1, 10, 20] = np.nan
    logits[0, 2, 25, 5] = np.inf
    m = mask_map(spec, 400, 300, 40, 30)
    got, _, bad = segment(logits, m)
    assert bad == 2
    unknown = got == UNKNOWN
    expected, margin, _ = reference(np.nan_to_num(logits, posinf=0.0), m)
    # pixels whose taps reach logit (10, 20) or (25, 5): source rows/cols within one logit px
    near = np.zeros_like(unknown)
    near[90:120, 190:220] = True
    near[240:270, 40:70] = True
    assert unknown[100:110, 200:210].all() and unknown[250:260, 50:60].all()
    assert not unknown[~near].any()
    assert_masks_agree(got[~near], expected[~near], margin[~near])


def test_threads_do_not_change_the_masks() -> None:
    spec = ImageSpec(width=96, height=72, letterbox="opencv")
    logits = smooth_logits(9, 72, 96, 11)
    m = mask_map(spec, 1280, 720, 96, 72)
    before = C.get_num_threads()
    try:
        C.set_num_threads(1)
        one, _, _ = segment(logits, m)
        C.set_num_threads(4)
        four, _, _ = segment(logits, m)
    finally:
        C.set_num_threads(before)
    np.testing.assert_array_equal(one, four)


def test_bad_input_is_named() -> None:
    spec = ImageSpec(width=32, height=32)
    m = mask_map(spec, 64, 64, 32, 32)[None]
    with pytest.raises(ValueError, match=r"shape \(batch, classes, height, width\)"):
        C.segment(np.zeros((1, 3, 32), np.float32), m, False)
    with pytest.raises(ValueError, match=r"300 classes; masks hold 1\.\.255"):
        C.segment(np.zeros((1, 300, 32, 32), np.float32), m, False)
    with pytest.raises(ValueError, match=r"maps must have shape \(batch, 10\)"):
        C.segment(np.zeros((2, 3, 32, 32), np.float32), m, False)
    with pytest.raises(ValueError, match=r"x: need 0 <= lo <= hi <= logits - 1, got .* for 16"):
        C.segment(np.zeros((1, 3, 16, 16), np.float32), m, False)
    head = SegmentationHead(output="logits")
    with pytest.raises(PostprocessError, match="has 4 class planes; the bundle has 3 labels"):
        head.check_output(["batch", 4, 32, 32], 3, "seg.mmb")
    with pytest.raises(PostprocessError, match="does not know the keys"):
        SegmentationHead.from_dict({"task": "segmentation", "treshold": 0.5})
