"""`mmedge demo --task detection`: the built-in digit detector, tracked, in a Pipeline over a
DigitScene (digits moving across a wall, or across your video); writes the annotated video
(boxes, labels, track ids, the counting line) and prints a table of what it found against the
scene's truth: per second, then precision, recall, class accuracy, identity switches and line
crossings counted against the true ones.

Glyphs: MNIST's test digits (writers the detector never saw) when the data folder is found
($MMEDGE_DATA), else the package's printed sample digits, which the detector, trained on
handwriting, reads less well (the demo says so)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import MMEdgeError
from mmedge.pipeline import Pipeline
from mmedge.pipeline.results import FusedResult
from mmedge.sinks import VideoWriter
from mmedge.sources import VideoFile
from mmedge.sources.base import Source, VideoFrame
from mmedge.sources.digit_scene import DigitScene, FrameTruth
from mmedge.tasks.detections import Detections
from mmedge.tasks.draw import draw_detections
from mmedge.track import LineCounter, Tracker, iou_matrix

MATCH_IOU = 0.5  # a reported box is a true positive at this IoU with a digit's true box


def mnist_glyphs(count: int = 40, seed: int = 0) -> list[tuple[int, np.ndarray]] | None:
    """`count` seeded MNIST test digits as (digit, ink 0..1), or None without the data."""
    from mmedge.datasets import load_mnist

    try:
        images, labels = load_mnist("test")
    except (MMEdgeError, OSError):
        return None
    pick = np.random.default_rng(seed).integers(0, len(images), count)
    return [(int(labels[i]), images[i].astype(np.float32) / 255.0) for i in pick]


class _Remembered(Source):
    """Passes a source's frames on and keeps each one by index until taken (bounded: a file
    source waits for the pipeline, so at most a queue's worth is ever in flight)."""

    kind = "video"

    def __init__(self, inner: Source, keep: int = 256) -> None:
        self.inner, self.live, self.name, self.keep = inner, inner.live, inner.name, keep
        self.frames: dict[int, np.ndarray] = {}

    def read(self) -> VideoFrame | None:
        item = self.inner.read()
        if isinstance(item, VideoFrame):
            self.frames[item.index] = item.image
            while len(self.frames) > self.keep:
                self.frames.pop(next(iter(self.frames)))
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self.inner.close()

    def stats(self) -> dict[str, Any]:
        return self.inner.stats()


class Score:
    """Reported (confirmed-track) boxes against the truth, frame after frame."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.right_class = 0
        self.ids: dict[int, set[int]] = {}  # true object -> the track ids that held it

    def add(self, found: Detections, truth: FrameTruth) -> None:
        iou = iou_matrix(found.xyxy, truth.boxes)
        taken: set[int] = set()
        for i in np.argsort(-found.scores):
            j = int(np.argmax(iou[i])) if iou.shape[1] else -1
            if j < 0 or iou[i, j] < MATCH_IOU or j in taken:
                self.fp += 1
                continue
            taken.add(j)
            self.tp += 1
            self.right_class += int(found.class_ids[i] == truth.class_ids[j])
            if found.track_ids is not None:
                self.ids.setdefault(int(truth.object_ids[j]), set()).add(int(found.track_ids[i]))
        self.fn += len(truth.boxes) - len(taken)

    def summary(self) -> dict[str, float | int]:
        return {
            "precision": self.tp / max(self.tp + self.fp, 1),
            "recall": self.tp / max(self.tp + self.fn, 1),
            "class_accuracy": self.right_class / max(self.tp, 1),
            "id_switches": sum(len(ids) - 1 for ids in self.ids.values()),
        }


def _caption(found: Detections) -> str:
    return " ".join(f"{lab}#{t}" for lab, t in zip(found.labels, found.track_ids, strict=True))  # type: ignore[arg-type]


def run(
    *,
    video: str | None = None,
    out: str | Path = "mmedge-detections.mp4",
    seconds: float = 10.0,
    seed: int = 0,
    backend: str = "auto",
    as_json: bool = False,
    emit: Callable[[str], None] = print,
) -> int:
    """Runs the detection demo; returns the process exit code."""
    from mmedge.bundle import builtin_bundle

    glyphs = mnist_glyphs(seed=seed)
    background = VideoFile(video, loop=True) if video else None
    scene = DigitScene(seconds, seed=seed, background=background, glyphs=glyphs)
    source = _Remembered(scene.video)
    # The scene's digits never overlap (one lane each): a box covering a tracked digit by 0.3 is
    # the detector's second reading of it (another class, per-class NMS), not a new digit.
    tracker, counter = Tracker(duplicate_iou=0.3), LineCounter("centre", *scene.line)
    pipe = Pipeline().add(
        "cam", source, builtin_bundle("digit_detector"), track=tracker, counters=[counter],
        backend=backend,
    )  # fmt: skip
    score, rows, events = Score(), [], []
    if not as_json:
        emit(
            f"mmedge demo --task detection: {len(scene.objects)} "
            f"{'MNIST test' if glyphs else 'printed'} digits over "
            f"{Path(video).name if video else 'a generated wall'}, {scene.frames} frames; "
            f"{pipe.modalities['cam'].model}"
        )
        if glyphs is None:
            emit(
                "note: no MNIST data ($MMEDGE_DATA): printed digits, which the detector "
                "(trained on handwriting) reads less well"
            )
        emit(f"{'t (s)':>6}  {'truth':<12}  tracked (label#track)")
    writer = VideoWriter(out, scene.fps, (scene.width, scene.height))

    def show(r: FusedResult) -> None:
        found = r.detections["cam"]
        index = round(found.t_s * scene.fps)
        reported = found.select(found.track_ids >= 0)  # type: ignore[operator]
        truth = scene.truth(index)
        score.add(reported, truth)
        events.extend(r.events.get("cam", []))
        image = source.frames.pop(index)
        writer.write(draw_detections(image, reported, lines=[scene.line]))
        rows.append({"t_s": found.t_s, **reported.to_dict()})
        if not as_json and index % round(scene.fps) == 0:
            digits = " ".join(str(c) for c in truth.class_ids)
            emit(f"{found.t_s:6.2f}  {digits:<12}  {_caption(reported)}")

    pipe.on_result(show)
    try:
        pipe.run()
    except BaseException:
        writer.close(keep=False)
        raise
    writer.close(keep=bool(rows))
    summary = {
        "frames": len(rows),
        "video": str(Path(out).resolve()) if rows else None,
        **score.summary(),
        "line_crossings": {"counted": dict(counter.counts), "true": scene.crossings()},
        "events": [e.__dict__ for e in events],
        "stats": pipe.stats(),
    }
    if as_json:
        emit(json.dumps({"results": rows, **summary}, indent=2, default=str))
        return 0 if rows else 1
    emit(
        f"precision {summary['precision']:.1%}, recall {summary['recall']:.1%} (IoU >= "
        f"{MATCH_IOU}), class accuracy {summary['class_accuracy']:.1%}, "
        f"identity switches {summary['id_switches']}"
    )
    true = summary["line_crossings"]["true"]  # type: ignore[index]
    emit(
        f"centre line: {counter.counts[1]} crossings left to right, {counter.counts[-1]} right "
        f"to left (true: {true[1]}, {true[-1]}); {len(events)} events"
    )
    emit(pipe.telemetry.table())
    emit(f"annotated video: {summary['video']}")
    return 0 if rows else 1
