"""The branch of a StreamGroup: one batch of frames from several streams through the shared
model in one preprocess call and one backend call; each stream keeps its own frame count
(every_n), tracker and results. Classification and detection bundles alike."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from mmedge.pipeline.branches import Modality, class_presence
from mmedge.pipeline.results import ModalityResult
from mmedge.pipeline.streams import StreamGroup
from mmedge.pipeline.telemetry import Telemetry
from mmedge.runtime.image_heads import predict_detections
from mmedge.runtime.model import softmax
from mmedge.sources.base import VideoFrame


class BatchBranch:
    """Turns a StreamGroup's batches into per-stream ModalityResults (and telemetry)."""

    def __init__(self, group: StreamGroup, telemetry: Telemetry) -> None:
        self.group, self.telemetry = group, telemetry
        self.frames_seen = {m.name: 0 for m in group.members}

    def _due(self, pairs: list[tuple[Modality, VideoFrame]]) -> list[tuple[Modality, VideoFrame]]:
        """The frames each stream's every_n keeps."""
        due = []
        for m, frame in pairs:
            self.frames_seen[m.name] += 1
            if (self.frames_seen[m.name] - 1) % m.every_n == 0:
                due.append((m, frame))
        return due

    def feed(self, pairs: list[tuple[Modality, VideoFrame]]) -> list[ModalityResult]:
        due = self._due(pairs)
        if not due:
            return []
        start = time.monotonic()
        for m, frame in due:
            self.telemetry.record(m.name, "wait", (start - frame.arrived) * 1e3)
        self.telemetry.count(self.group.name, f"batch_{len(due)}")
        model = self.group.model
        assert model is not None
        results = self._detect(due) if model.heads else self._classify(due)
        done = time.monotonic()
        for m, frame in due:
            self.telemetry.record(m.name, "latency", (done - frame.arrived) * 1e3)
        return results

    def _images(self, due: list[tuple[Modality, VideoFrame]]) -> list[np.ndarray]:
        images = [frame.image for _, frame in due]
        if self.group.pad:
            images += [images[-1]] * (len(self.group.members) - len(images))
        return images

    def _classify(self, due: list[tuple[Modality, VideoFrame]]) -> list[ModalityResult]:
        model = self.group.model
        assert model is not None
        t0 = time.perf_counter()
        feeds = model.preprocess_batch(self._images(due))
        t1 = time.perf_counter()
        outputs = model.infer(feeds)
        t2 = time.perf_counter()
        self.telemetry.record(self.group.name, "preprocess", (t1 - t0) * 1e3)
        self.telemetry.record(self.group.name, "infer", (t2 - t1) * 1e3)
        embedding = next((o.name for o in model.outputs if o.kind == "embedding"), None)
        results = []
        for i, (m, frame) in enumerate(due):
            row = {k: v[i] for k, v in outputs.items()}
            scored = row[model.output.name]
            probs = softmax(scored) if model.output.kind == "logits" else scored.astype(np.float32)
            results.append(
                ModalityResult(
                    m.name,
                    frame.t_s,
                    frame.t_end_s,
                    probs=probs,
                    arrived=frame.arrived,
                    embedding=row[embedding] if embedding else None,
                    outputs=row,
                )
            )
        return results

    def _detect(self, due: list[tuple[Modality, VideoFrame]]) -> list[ModalityResult]:
        model = self.group.model
        assert model is not None
        found = predict_detections(model, self._images(due))
        rows, first = len(found), found[0]  # its times: the batch's, per row
        self.telemetry.record(self.group.name, "preprocess", first.preprocess_ms * rows)
        self.telemetry.record(self.group.name, "infer", first.infer_ms * rows)
        self.telemetry.record(self.group.name, "postprocess", first.postprocess_ms * rows)
        results = []
        for (m, frame), d in zip(due, found, strict=False):
            d = replace(d, t_s=frame.t_s, stream=m.name, outputs={})
            events = []
            if m.tracker is not None:
                d = m.tracker.update(d)
                for counter in m.counters:
                    events += counter.update(m.tracker)
            results.append(
                ModalityResult(
                    m.name,
                    frame.t_s,
                    frame.t_end_s,
                    probs=class_presence(d, len(model.labels)),
                    arrived=frame.arrived,
                    detections=d,
                    events=events,
                )
            )
        return results
