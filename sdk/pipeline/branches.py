"""One modality of a pipeline (Modality) and the branch that turns its source items into
results: frames through an image model (FrameBranch), clips through a video model
(ClipBranch), audio windows through an audio model (AudioWindowBranch). Without a model of its
own a branch hands its raw frames, clips or windows on to a model-level fusion bundle.

The branch class is chosen once, by the kind of the spec it feeds (BRANCHES); each states the
source kind it reads, so add() can refuse a mismatch before anything runs.
"""

from __future__ import annotations

import collections
import time
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from mmedge import preprocess as pp
from mmedge.errors import MMEdgeError
from mmedge.pipeline.health import FrameHealth, audio_health
from mmedge.pipeline.results import ModalityResult
from mmedge.pipeline.telemetry import Telemetry
from mmedge.runtime.image_heads import predict_detections
from mmedge.runtime.model import Model, softmax
from mmedge.sources.base import AudioChunk, Source, VideoFrame
from mmedge.sources.queues import BoundedQueue
from mmedge.tasks.detections import Detections
from mmedge.track.events import LineCounter, Region
from mmedge.track.tracker import Tracker

TrackCounter = LineCounter | Region


class Modality:
    """One source and what runs on it: a Model (its results are fused) or nothing (raw windows
    for a model-level bundle).

    weight: late-fusion weight. window_s/hop_s: audio window and step, s. every_n: an image
    model runs on every n-th frame. raw_spec: the spec of the model-level input it feeds.
    """

    def __init__(
        self,
        name: str,
        source: Source,
        model: Model | None,
        weight: float,
        window_s: float | None,
        hop_s: float | None,
        every_n: int,
        queue_size: int,
    ) -> None:
        self.name, self.source, self.model = name, source, model
        self.weight, self.every_n = weight, every_n
        self.window_s, self.hop_s = window_s, hop_s
        self.spec: pp.Spec | None = model.spec if model is not None else None
        self.queue = BoundedQueue(queue_size, drop_oldest=source.live)
        self.raw_spec: pp.Spec | None = None  # the model-level bundle's spec for raw windows
        self.tracker: Tracker | None = None  # a detection modality's, when it tracks
        self.counters: list[TrackCounter] = []  # LineCounter / Region over its tracker
        self.rescore = 1.0  # strength of the classifiers' class evidence on its box scores
        self.group: Any = None  # the StreamGroup that batches it with other streams, if any

    @property
    def fed_spec(self) -> pp.Spec | None:
        """The spec of what this modality feeds: its model's input, or a model-level input."""
        return self.spec if self.model is not None else self.raw_spec


class Branch:
    """Turns one modality's items into ModalityResults. busy_ms: preprocess + infer time of the
    item fed last (the rest of the item's time is the pipeline's own overhead)."""

    source_kind: ClassVar[str]

    def __init__(self, m: Modality, telemetry: Telemetry) -> None:
        self.m, self.telemetry = m, telemetry
        self.spec = m.fed_spec
        self.busy_ms = 0.0

    def feed(self, item: VideoFrame | AudioChunk) -> list[ModalityResult]:
        raise NotImplementedError

    def flush(self) -> list[ModalityResult]:
        """Results still due once the source has ended."""
        return []

    def _infer(
        self,
        sample: Any,
        span: tuple[float, float],
        arrived: float,
        feeds: dict[str, np.ndarray] | None = None,
        prep_ms: float = 0.0,
    ) -> ModalityResult:
        """Runs the modality's model on a raw sample (or ready feeds) covering span (s)."""
        model = self.m.model
        assert model is not None
        tp = time.perf_counter()
        if feeds is None:
            feeds = model.preprocess_native(sample)
        prep_ms += (time.perf_counter() - tp) * 1e3
        ti = time.perf_counter()
        outputs = model.infer(feeds)
        infer_ms = (time.perf_counter() - ti) * 1e3
        self.telemetry.record(self.m.name, "preprocess", prep_ms)
        self.telemetry.record(self.m.name, "infer", infer_ms)
        self.busy_ms += prep_ms + infer_ms
        row = {k: v[0] for k, v in outputs.items()}
        scored = row[model.output.name]
        probs = softmax(scored) if model.output.kind == "logits" else scored.astype(np.float32)
        embedding = next((row[o.name] for o in model.outputs if o.kind == "embedding"), None)
        return ModalityResult(
            self.m.name, *span, probs=probs, embedding=embedding, arrived=arrived, outputs=row
        )


def class_presence(found: Detections, classes: int) -> np.ndarray:
    """Each class's best box score, normalised to sum 1 (uniform without boxes): a detection
    modality's evidence for late fusion with classifiers over the same labels."""
    best = np.zeros(classes, np.float32)
    np.maximum.at(
        best, found.class_ids[found.class_ids < classes], found.scores[found.class_ids < classes]
    )
    total = float(best.sum())
    return best / total if total > 0 else np.full(classes, 1.0 / max(classes, 1), np.float32)


class FrameBranch(Branch):
    """An image model on every every_n-th frame, or every every_n-th raw frame; a detection
    bundle's boxes with the frame's time, through the modality's tracker when it has one."""

    source_kind = "video"

    def __init__(self, m: Modality, telemetry: Telemetry) -> None:
        super().__init__(m, telemetry)
        self.frames_seen = 0
        self.frame_health = FrameHealth()

    def _detect(self, frame: VideoFrame, span: tuple[float, float]) -> ModalityResult:
        model = self.m.model
        assert model is not None
        found = predict_detections(model, [frame.image])[0]
        self.telemetry.record(self.m.name, "preprocess", found.preprocess_ms)
        self.telemetry.record(self.m.name, "infer", found.infer_ms)
        self.telemetry.record(self.m.name, "postprocess", found.postprocess_ms)
        self.busy_ms += found.latency_ms
        found = replace(found, t_s=frame.t_s, stream=self.m.name, outputs={})
        events = []
        if self.m.tracker is not None:
            found = self.m.tracker.update(found)
            for counter in self.m.counters:
                events += counter.update(self.m.tracker)
        probs = class_presence(found, len(model.labels))
        return ModalityResult(
            self.m.name,
            *span,
            probs=probs,
            arrived=frame.arrived,
            detections=found,
            events=events,
        )

    def feed(self, item: VideoFrame | AudioChunk) -> list[ModalityResult]:
        frame = item
        assert isinstance(frame, VideoFrame)
        self.frames_seen += 1
        health = self.frame_health.check(frame.image, frame.t_s)
        if (self.frames_seen - 1) % self.m.every_n:
            return []
        span = (frame.t_s, frame.t_end_s)
        if self.m.model is None:
            return [ModalityResult(self.m.name, *span, raw=frame.image, arrived=frame.arrived)]
        if self.m.model.heads:
            result = self._detect(frame, span)
        else:
            result = self._infer(frame.image, span, frame.arrived)
        result.health = health
        return [result]


class ClipBranch(Branch):
    """A video model on the newest clip (FrameStack: each frame normalised once, on arrival),
    or the newest raw clip ((T, H, W, C) frames) for a model-level bundle."""

    source_kind = "video"

    def __init__(self, m: Modality, telemetry: Telemetry) -> None:
        super().__init__(m, telemetry)
        spec = self.spec
        assert isinstance(spec, pp.VideoSpec)
        span = spec.span_frames
        self.frame_times: collections.deque[float] = collections.deque(maxlen=span)
        self.raw_frames: collections.deque[np.ndarray] = collections.deque(maxlen=span)
        self.stack = pp.FrameStack(spec) if m.model is not None else None
        self.frame_health = FrameHealth()

    def feed(self, item: VideoFrame | AudioChunk) -> list[ModalityResult]:
        frame = item
        assert isinstance(frame, VideoFrame)
        self.frame_times.append(frame.t_s)
        health = self.frame_health.check(frame.image, frame.t_s)  # of the clip's newest frame
        if self.stack is None:
            self.raw_frames.append(frame.image)
            if len(self.raw_frames) < (self.raw_frames.maxlen or 0):
                return []
            clip = np.stack(self.raw_frames)
            span = (self.frame_times[0], frame.t_end_s)
            return [ModalityResult(self.m.name, *span, raw=clip, arrived=frame.arrived)]
        tp = time.perf_counter()
        clip = self.stack.push(frame.image)
        prep_ms = (time.perf_counter() - tp) * 1e3
        if clip is None:
            return []
        feeds = {self.m.model.input_name: clip}  # type: ignore[union-attr]
        span = (self.frame_times[0], frame.t_end_s)
        result = self._infer(None, span, frame.arrived, feeds, prep_ms)
        result.health = health
        return [result]


class AudioWindowBranch(Branch):
    """Windows of window_s every hop_s (default: the spec's analysis window and half of it, else
    1 s and 0.5 s) over the chunks, resampled to the spec's rate; a gap in a live source starts
    the windows over (counted as 'gaps'); at the end the last partial window is zero-padded."""

    source_kind = "audio"

    def __init__(self, m: Modality, telemetry: Telemetry) -> None:
        super().__init__(m, telemetry)
        spec = self.spec
        self.rate: int | None = getattr(spec, "sample_rate_hz", None)
        window = m.window_s or getattr(spec, "analysis_seconds", None)
        self.window_s = window or 1.0
        self.hop_s = m.hop_s or self.window_s / 2
        self.resampler: pp.Resampler | None = None
        self.buffer = np.zeros(0, np.float32)
        self.origin_s: float | None = None
        self.consumed = 0
        self.emitted_to = 0
        self.last_arrived = 0.0
        self.last_end_s: float | None = None

    def _restart(self) -> None:
        self.origin_s, self.buffer, self.consumed, self.resampler = None, self.buffer[:0], 0, None

    def feed(self, item: VideoFrame | AudioChunk) -> list[ModalityResult]:
        chunk = item
        assert isinstance(chunk, AudioChunk)
        rate = self.rate = self.rate or chunk.sample_rate_hz
        expected = self.last_end_s
        if (
            self.m.source.live
            and expected is not None
            and chunk.t_s - expected > 0.5 * (chunk.duration_s)
        ):
            self.telemetry.count(self.m.name, "gaps")
            self._restart()
        self.last_end_s = chunk.t_end_s
        if self.origin_s is None:
            self.origin_s = chunk.t_s
        x = chunk.samples
        if chunk.sample_rate_hz != rate:
            tr = time.perf_counter()
            if self.resampler is None:
                self.resampler = pp.Resampler(chunk.sample_rate_hz, rate)
            x = self.resampler.push(x)
            resample_ms = (time.perf_counter() - tr) * 1e3
            self.telemetry.record(self.m.name, "resample", resample_ms)
            self.busy_ms += resample_ms
        self.buffer = np.concatenate([self.buffer, x])
        self.last_arrived = chunk.arrived
        return self._windows(final=False)

    def flush(self) -> list[ModalityResult]:
        if self.resampler is not None:
            self.buffer = np.concatenate([self.buffer, self.resampler.flush()])
        if self.rate is None or self.origin_s is None:
            return []
        return self._windows(final=True)

    def _windows(self, final: bool) -> list[ModalityResult]:
        assert self.rate is not None and self.origin_s is not None
        window = max(1, round(self.window_s * self.rate))
        hop = max(1, round(self.hop_s * self.rate))
        out = []
        while len(self.buffer) >= window or (
            final and len(self.buffer) > 0 and self.consumed + len(self.buffer) > self.emitted_to
        ):
            samples = self.buffer[:window]
            if len(samples) < window:
                samples = np.concatenate([samples, np.zeros(window - len(samples), np.float32)])
            t0 = self.origin_s + self.consumed / self.rate
            span = (t0, t0 + window / self.rate)
            if self.m.model is None:
                out.append(
                    ModalityResult(
                        self.m.name,
                        *span,
                        raw=samples,
                        sample_rate_hz=self.rate,
                        arrived=self.last_arrived,
                    )
                )
            else:
                out.append(self._infer(samples, span, self.last_arrived))
                out[-1].health = audio_health(samples)
            self.emitted_to = self.consumed + min(window, len(self.buffer))
            self.buffer = self.buffer[hop:]
            self.consumed += hop
        return out


BRANCHES: dict[str, type[Branch]] = {
    "image": FrameBranch,
    "video": ClipBranch,
    "audio": AudioWindowBranch,
}
"""The branch class by the kind of spec it feeds."""

RAW_BRANCHES: dict[str, type[Branch]] = {"video": FrameBranch, "audio": AudioWindowBranch}
"""The branch of a source kind when nothing says what it feeds (raw frames / windows)."""


def branch_class(spec: pp.Spec | None, source_kind: str) -> type[Branch]:
    """The branch for a spec (or, without one, for the source kind)."""
    cls = BRANCHES.get(spec.kind) if spec is not None else RAW_BRANCHES.get(source_kind)
    if cls is None:
        kind = spec.kind if spec is not None else source_kind
        raise MMEdgeError(f"no pipeline branch handles {kind!r} inputs")
    return cls


def make_branch(m: Modality, telemetry: Telemetry) -> Branch:
    """The branch of a modality whose spec is known (after fusion set raw_spec)."""
    return branch_class(m.fed_spec, m.source.kind)(m, telemetry)
