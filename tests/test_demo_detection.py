"""`mmedge demo --task detection` and what it is made of: the DigitScene's truth against its own
pixels and against a tracker fed the true boxes; the annotated video opened again with OpenCV
(frame count and size, boxes drawn in their track's colour, the rest of the picture the scene's);
VideoWriter leaves nothing half-written; the printed-digit fallback without data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmedge.cli import main
from mmedge.demo_detection import mnist_glyphs
from mmedge.errors import MMEdgeError
from mmedge.sinks import VideoWriter
from mmedge.sources.digit_scene import DigitScene
from mmedge.tasks import Detections
from mmedge.tasks.draw import colour_of
from mmedge.track import LineCounter, Tracker

cv2 = pytest.importorskip("cv2")


def test_scene_truth_is_where_the_ink_is() -> None:
    scene = DigitScene(2.0, seed=3)
    for index in (0, 7, 29):
        frame = scene.frame(index).astype(np.int32)
        ink = np.abs(frame - np.clip(scene._wall(index) + 0.5, 0, 255).astype(np.int32)).max(-1)
        truth = scene.truth(index)
        for box in truth.boxes:
            lane = ink[int(box[1]) - 4 : int(box[3]) + 4]
            ys, xs = np.nonzero(lane > 20)  # ink coverage above ~0.25 of the ink's contrast
            found = np.array(
                [xs.min(), ys.min() + int(box[1]) - 4, xs.max() + 1, ys.max() + int(box[1]) - 4 + 1]
            )
            np.testing.assert_allclose(found, box, atol=2)


def test_scene_crossings_are_what_a_tracker_counts_on_the_true_boxes() -> None:
    scene = DigitScene(6.0, seed=5)
    tracker, counter = Tracker(min_frames=1), LineCounter("centre", *scene.line)
    for index in range(scene.frames):
        t = scene.truth(index)
        found = Detections(
            t.boxes, np.ones(len(t.boxes), np.float32), t.class_ids,
            tuple(str(c) for c in t.class_ids), (scene.width, scene.height),
        )  # fmt: skip
        tracker.update(found)
        counter.update(tracker)
    assert counter.counts == scene.crossings()
    assert sum(counter.counts.values()) >= 4  # digits bounce across the line


def test_detection_demo_writes_the_annotated_video(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMEDGE_DATA", str(data_dir))
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--task", "detection", "--out", str(out), "--seconds", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 60 and Path(report["video"]) == out.resolve()
    # MNIST test digits on the wall, the built-in detector, tracked (figures of this run: 1.0, 0.98)
    assert report["precision"] >= 0.95 and report["recall"] >= 0.9, report
    assert report["id_switches"] == 0
    counted = {int(k): v for k, v in report["line_crossings"]["counted"].items()}
    assert counted == {int(k): v for k, v in report["line_crossings"]["true"].items()}
    crossed = [e["direction"] for e in report["events"] if e["kind"] == "crossed"]  # via results
    assert {+1: crossed.count(1), -1: crossed.count(-1)} == counted
    assert not list(tmp_path.glob(".*partial*"))

    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 60
    frames = []
    while (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    assert len(frames) == 60 and frames[0].shape == (480, 640, 3)
    scene = DigitScene(4.0, seed=0, glyphs=mnist_glyphs(seed=0))
    row = report["results"][45]
    index = round(row["t_s"] * scene.fps)
    drawn, clean = frames[index].astype(np.int32), scene.frame(index).astype(np.int32)
    painted = np.zeros(drawn.shape[:2], bool)
    for d in row["detections"]:
        x1, y1, x2, y2 = (round(v) for v in d["xyxy"])
        edge = np.concatenate([drawn[y1 + 5 : y2 - 5, x1], drawn[y1 + 5 : y2 - 5, x2 - 1]])
        assert np.abs(edge - np.array(colour_of(d["track_id"]))).mean() < 40, d
        painted[max(y1 - 25, 0) : y2 + 3, max(x1 - 3, 0) : x2 + 90] = True
    painted[:, 316:325] = True  # the counting line
    assert len(row["detections"]) == 4
    assert np.abs(drawn - clean)[~painted].mean() < 4  # elsewhere: the scene (mp4v's loss)


def test_without_data_the_demo_uses_printed_digits_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MMEDGE_DATA", raising=False)
    out = tmp_path / "printed.avi"
    assert main(["demo", "--task", "detection", "--out", str(out), "--seconds", "1"]) == 0
    text = capsys.readouterr().out
    assert "printed digits" in text and "note: no MNIST data" in text
    assert f"annotated video: {out.resolve()}" in text and out.stat().st_size > 0


def test_detection_demo_refuses_the_fusion_demos_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--task", "detection", "--mic"]) == 2
    assert "--task detection takes --video, not --mic" in capsys.readouterr().err


def test_video_writer_leaves_nothing_half_written(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"

    def interrupted() -> None:
        with VideoWriter(path, 15, (64, 48)) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(path, 15, (64, 48)) as writer:
        with pytest.raises(MMEdgeError, match=r"uint8 \(48, 64, 3\), got uint8 \(64, 48, 3\)"):
            writer.write(np.zeros((64, 48, 3), np.uint8))
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    with pytest.raises(MMEdgeError, match="is not a folder"):
        VideoWriter(tmp_path / "missing" / "v.mp4", 15, (64, 48))
