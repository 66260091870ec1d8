"""A detection modality in a Pipeline: the built-in digit_detector over a video file of real
frames (cup.mp4) with two digits composited in, tracked; every fused result carries the
modality's Detections with its frame's source time and stream name, the same boxes as
Model.predict on that frame, and one track id per digit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.datasets import load_mnist
from mmedge.sources import VideoFile
from mmedge.track import LineCounter, iou_matrix

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def digits_clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames of cup.mp4 with a 3 moving right and a 7 moving left, written as MJPG AVI."""
    cap = cv2.VideoCapture(str(data_dir / "video_clips" / "cup.mp4"))
    digits, labels = load_mnist("test", data_dir)
    pick = [int(np.flatnonzero(labels == 3)[1]), int(np.flatnonzero(labels == 7)[0])]
    path = tmp_path_factory.mktemp("clip") / "digits.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for t in range(30):
        ok, frame = cap.read()
        assert ok
        image = frame.astype(np.float32)
        for k, (x0, y0) in enumerate(((60 + 10 * t, 50), (520 - 10 * t, 340))):
            alpha = cv2.resize(digits[pick[k]], (80, 80))[..., None] / 255.0
            region = image[y0 : y0 + 80, x0 : x0 + 80]
            region[:] = region * (1 - alpha) + np.array([20, 20, 200]) * alpha
        writer.write(np.clip(image, 0, 255).astype(np.uint8))
    writer.release()
    cap.release()
    return path


def test_detections_flow_through_the_pipeline(digits_clip: Path) -> None:
    bundle = mmedge.builtin_bundle("digit_detector")
    pipe = mmedge.Pipeline().add(
        "cam", VideoFile(digits_clip, decoder="opencv"), bundle, track=True
    )
    results = pipe.run(timeout_s=60)
    assert len(results) >= 25
    source = VideoFile(digits_clip, decoder="opencv")
    source.open()
    frames = {}
    while (item := source.read()) is not None:
        frames[round(item.t_s, 6)] = item.image
    source.close()
    ids: dict[int, set[int]] = {0: set(), 1: set()}
    with mmedge.Model(bundle) as model:
        for r in results:
            d = r.detections["cam"]
            assert d.stream == "cam" and round(d.t_s, 6) in frames
            expected = model.predict(frames[round(d.t_s, 6)])
            np.testing.assert_allclose(d.xyxy, expected.xyxy, rtol=0, atol=1e-4)
            np.testing.assert_array_equal(d.class_ids, expected.class_ids)
            assert d.track_ids is not None and len(d.track_ids) == len(d)
            t = round(d.t_s * 30)
            for k, (x0, y0) in enumerate(((60 + 10 * t, 50), (520 - 10 * t, 340))):
                over = iou_matrix(np.array([[x0, y0, x0 + 80, y0 + 80]], np.float32), d.xyxy)[0]
                ids[k] |= {int(i) for i in d.track_ids[over >= 0.3] if i >= 0}
    assert all(len(v) == 1 for v in ids.values()) and ids[0] != ids[1], ids
    assert "detections" in results[-1].to_dict()


def test_counters_need_a_tracker(digits_clip: Path) -> None:
    door = LineCounter("door", (320, 0), (320, 480))
    with pytest.raises(mmedge.MMEdgeError, match="counters= count tracks: add track=True"):
        mmedge.Pipeline().add(
            "cam", VideoFile(digits_clip), mmedge.builtin_bundle("digit_detector"), counters=[door]
        )


def test_track_needs_a_detection_bundle(digits_clip: Path) -> None:
    with pytest.raises(mmedge.MMEdgeError, match="track= needs a detection bundle"):
        mmedge.Pipeline().add(
            "cam", VideoFile(digits_clip), mmedge.builtin_bundle("scene_image"), track=True
        )
