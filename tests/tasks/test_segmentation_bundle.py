"""A segmentation bundle end to end, on the built-in digit_segmenter (real weights, trained by
scripts/build_segmenter.py): Model.predict returns Masks at each frame's own size, equal to the
kernel run on the network's own logits; predict_batch equals predict; the manifest's head is
checked against the outputs when the bundle loads; the overlay draws each class in its colour;
pipelines and serving refuse the bundle by name. (Its accuracy on held-out frames is tested in
tests/export/test_segmentation_export.py, which makes the frames.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bundle_edits import edited_copy

import mmedge
from mmedge import BundleError, MMEdgeError, Model
from mmedge._ext import C
from mmedge.tasks import Masks, SegmentationHead, mask_map
from mmedge.tasks.draw import colour_of, overlay_masks

BUNDLE = mmedge.builtin_bundle("digit_segmenter")


@pytest.fixture(scope="module")
def model():
    with Model(BUNDLE, precision="fp32") as m:
        yield m


def test_masks_are_the_kernel_on_the_networks_logits(model: Model, video_frames) -> None:
    assert isinstance(model.heads[0], SegmentationHead)
    for frame in (video_frames[0], video_frames[-1]):  # 768x576 and 640x480
        got = model.predict(frame)
        assert isinstance(got, Masks)
        h, w = frame.shape[:2]
        assert got.mask.shape == (h, w) and got.mask.dtype == np.uint8
        assert got.frame_size == (w, h) and got.labels == tuple(model.labels)
        logits = model.infer(model.preprocess(frame))["logits"]
        m = mask_map(model.spec, w, h, logits.shape[3], logits.shape[2])
        np.testing.assert_array_equal(got.mask, C.segment(logits, m[None], False)[0][0])
        assert got.latency_ms >= got.infer_ms > 0 and got.postprocess_ms > 0


def test_predict_batch_equals_predict(model: Model, video_frames) -> None:
    frames = [video_frames[0], video_frames[7], video_frames[1]]
    singles = [model.predict(f) for f in frames]
    for one, batched in zip(singles, model.predict_batch(frames), strict=True):
        np.testing.assert_array_equal(one.mask, batched.mask)


def test_the_overlay_colours_each_class(model: Model, video_frames) -> None:
    frame = video_frames[6]
    found = model.predict(frame)
    masks = Masks(np.zeros_like(found.mask), found.labels, found.frame_size)
    masks.mask[100:140, 200:260] = 3
    out = overlay_masks(frame, masks, alpha=1.0, legend=False)
    assert (out[100:140, 200:260] == colour_of(3)).all()
    np.testing.assert_array_equal(out[:100], frame[:100])  # background left as it was
    with pytest.raises(MMEdgeError, match="the frame is 640x480 px, the masks 768x576"):
        overlay_masks(frame, model.predict(video_frames[0]))


def test_a_head_that_does_not_fit_the_outputs_is_refused(tmp_path: Path) -> None:
    def ten_labels(manifest: dict) -> None:
        manifest["labels"] = manifest["labels"][:10]

    with pytest.raises(BundleError, match="has 11 class planes; the bundle has 10 labels"):
        Model(edited_copy(BUNDLE, tmp_path, ten_labels))


def test_pipelines_and_serving_refuse_a_segmenter_by_name(tmp_path: Path) -> None:
    from mmedge.serve import export_triton

    scene = mmedge.sources.SyntheticScene(1.0)
    with pytest.raises(MMEdgeError, match="has a segmentation head; pipelines run"):
        mmedge.Pipeline().add("cam", scene.video, BUNDLE)
    with pytest.raises(MMEdgeError, match="export-triton serves classification and single-head"):
        export_triton([BUNDLE], tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
