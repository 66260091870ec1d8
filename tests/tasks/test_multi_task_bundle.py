"""A multi-task bundle end to end, on the built-in digit_multitask (real weights, trained by
scripts/build_multitask.py): Model.predict returns HeadResults, one result per head by name,
each the head's own decode of its own output with its own labels (boxes by the detection
kernel, masks by the segmentation kernel, on the network's outputs for that frame), from one
inference; predict_batch equals predict; the heads are checked against the outputs when the
bundle loads; pipelines and serving refuse the bundle by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bundle_edits import edited_copy

import mmedge
from mmedge import BundleError, MMEdgeError, Model
from mmedge._ext import C
from mmedge.tasks import Detections, Masks, box_map, mask_map
from mmedge.tasks.head_results import HeadResults

BUNDLE = mmedge.builtin_bundle("digit_multitask")


@pytest.fixture(scope="module")
def model():
    with Model(BUNDLE, precision="fp32") as m:
        yield m


def test_each_head_is_its_own_decode_of_its_own_output(model: Model, video_frames) -> None:
    calls = []
    infer = model.backend.infer
    model.backend.infer = lambda feeds: calls.append(1) or infer(feeds)  # type: ignore[method-assign]
    try:
        frame = video_frames[0]  # 768x576
        got = model.predict(frame)
    finally:
        model.backend.infer = infer  # type: ignore[method-assign]
    assert calls == [1], "both heads come from one inference"
    assert isinstance(got, HeadResults) and list(got) == ["digits", "strokes"]
    h, w = frame.shape[:2]
    raw = model.infer(model.preprocess(frame))
    boxes, masks = got["digits"], got["strokes"]
    assert isinstance(boxes, Detections) and isinstance(masks, Masks)
    assert len(boxes) > 0 and boxes.labels == tuple(str(c) for c in boxes.class_ids)
    assert masks.labels == ("background", *(str(d) for d in range(10)))
    options = model.heads[0].kernel_options(10)
    expected = C.detect(raw["boxes"], options, box_map(model.spec, w, h)[None])
    np.testing.assert_array_equal(boxes.xyxy, expected[0])
    np.testing.assert_array_equal(boxes.scores, expected[1])
    m = mask_map(model.spec, w, h, raw["masks"].shape[3], raw["masks"].shape[2])
    np.testing.assert_array_equal(masks.mask, C.segment(raw["masks"], m[None], False)[0][0])
    assert masks.mask.shape == (h, w)
    assert got.latency_ms >= got.infer_ms > 0 and got.postprocess_ms > 0
    assert boxes.postprocess_ms + masks.postprocess_ms <= got.postprocess_ms + 1e-6
    with pytest.raises(KeyError, match="no head named 'lanes'; the heads are \\['digits', "):
        got["lanes"]


def test_predict_batch_equals_predict(model: Model, video_frames) -> None:
    frames = [video_frames[0], video_frames[-1]]  # 768x576 and 640x480
    batch = model.predict_batch(frames)
    for frame, result in zip(frames, batch, strict=True):
        one = model.predict(frame)
        np.testing.assert_array_equal(result["strokes"].mask, one["strokes"].mask)
        np.testing.assert_allclose(result["digits"].xyxy, one["digits"].xyxy, atol=1e-3)


def test_heads_that_do_not_fit_are_refused_at_load(tmp_path: Path) -> None:
    def same_name(m):
        m["heads"][1]["name"] = "digits"

    def one_output(m):
        m["heads"][1]["output"] = "boxes"

    def fewer_labels(m):
        m["heads"][1]["labels"] = m["heads"][1]["labels"][:10]

    def events(m):
        m["heads"][1] = {"task": "audio_events", "frame_s": 0.01, "name": "e", "output": "masks"}

    cases = [
        (same_name, "needs a distinct name on every head .*\\['digits', 'digits'\\]"),
        (one_output, "each head of a multi-task bundle reads its own output"),
        (fewer_labels, "head strokes: output shape .* has 11 class planes; the bundle has 10"),
        (events, "'e' is an audio_events head"),
    ]
    for edit, message in cases:
        with pytest.raises(BundleError, match=message):
            Model(edited_copy(BUNDLE, tmp_path, edit))


def test_pipelines_and_serving_refuse_a_multi_task_bundle_by_name(tmp_path: Path) -> None:
    from mmedge.serve import export_triton

    scene = mmedge.sources.SyntheticScene(1.0)
    with pytest.raises(MMEdgeError, match="is a multi-task bundle \\(2 heads: detection, segm"):
        mmedge.Pipeline().add("cam", scene.video, BUNDLE)
    with pytest.raises(MMEdgeError, match="single-head detection bundles; digit_multitask has"):
        export_triton([BUNDLE], tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
