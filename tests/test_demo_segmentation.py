"""`mmedge demo --task segmentation`: the scene's true masks are where its ink is; the overlay
video and the PNG are opened again with OpenCV (frame count and size, the strokes coloured in
their class's colour where the segmenter found them, the rest the scene's own pixels); the
JSON summary's mIoU is the one mmedge.tasks.metrics gives on the masks the demo made; nothing
half-written on a bad --out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmedge.cli import main
from mmedge.sources.digit_scene import DigitScene
from mmedge.tasks.draw import colour_of

cv2 = pytest.importorskip("cv2")


def test_scene_masks_are_where_the_ink_is() -> None:
    scene = DigitScene(1.0, seed=2)
    frame = scene.frame(5).astype(np.int32)
    wall = np.clip(scene._wall(5) + 0.5, 0, 255).astype(np.int32)
    ink = np.abs(frame - wall).max(-1)
    mask = scene.mask(5)
    strong = ink > 0.6 * ink.max()  # clearly inked pixels
    assert (mask[strong] > 0).mean() > 0.95
    assert (mask > 0).sum() < 3 * strong.sum()
    truth = scene.truth(5)
    assert set(np.unique(mask)) - {0} == {int(c) + 1 for c in truth.class_ids}


def test_the_overlay_video_and_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "seg.mp4"
    code = main(["demo", "--task", "segmentation", "--out", str(out), "--seconds", "2",
                 "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 30 and summary["output"] == str(out.resolve())
    assert 0.0 <= summary["digits_mean_iou"] <= summary["miou"] <= 1.0
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 30 and frames[0].shape == (480, 640, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["seg.mp4"]


def test_the_png_colours_the_found_strokes(tmp_path: Path) -> None:
    """--out x.png: the middle frame's overlay. Where the segmenter found class k the picture
    is the scene's pixel blended half-way towards colour_of(k)."""
    import mmedge

    out = tmp_path / "seg.png"
    assert main(["demo", "--task", "segmentation", "--out", str(out), "--seconds", "2"]) == 0
    picture = cv2.imread(str(out)).astype(np.float32)
    scene = DigitScene(2.0, seed=0, glyphs=mmedge.demo_detection.mnist_glyphs(seed=0))
    frame = scene.frame(15)
    with mmedge.Model(mmedge.builtin_bundle("digit_segmenter")) as model:
        masks = model.predict(frame)
    found = np.flatnonzero(masks.areas()[1:]) + 1
    assert len(found) > 0
    legend = np.zeros(masks.mask.shape, bool)
    legend[: 20 * (len(found) + 1), :80] = True  # class names written at the top left
    for k in found:
        where = (masks.mask == k) & ~legend
        expected = frame[where] * 0.5 + np.array(colour_of(int(k)), np.float32) * 0.5
        assert np.abs(picture[where] - expected).max() <= 1.0
    untouched = (masks.mask == 0) & ~legend
    np.testing.assert_array_equal(picture[untouched], frame[untouched])


def test_a_bad_out_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--task", "segmentation", "--out", str(tmp_path / "x.gif")]) != 0
    assert "an .mp4 (or .avi) video, or a .png picture" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
