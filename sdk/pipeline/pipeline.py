"""mmedge.Pipeline: sources -> per-modality preprocess + inference -> alignment -> fusion.

    pipe = (mmedge.Pipeline()
            .add("image", VideoFile("drive.mp4"), "image.mmb")
            .add("audio", AudioFile("drive.wav"), "audio.mmb")
            .fuse("log_linear", trigger="image", max_skew_ms=500))
    for result in pipe:                    # or pipe.on_result(callback).run()
        print(result.label, result.contributors)

Threads: one reader per source (decode), one worker per modality (preprocess + infer), one
fuser. Kernels and ONNX Runtime release the GIL, so modalities run in parallel. Live sources
feed drop-oldest queues (never fall behind the sensor; drops counted); recorded sources block
(nothing lost) and the fuser waits until every modality has passed a trigger time before it
fuses it (results are causal: only windows ending by the trigger time count), so a run over
files gives the same results every time. A failing source or model is
reported (stats()['errors'], on_error) and the other modalities keep running. stop() joins
every thread and closes every source.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmedge import preprocess as pp
from mmedge.bundle import Bundle
from mmedge.errors import MMEdgeError
from mmedge.pipeline.fusion import (
    LATE_METHODS,
    Aligner,
    Contribution,
    FusedResult,
    FusionError,
    ModalityResult,
    late_fusion,
)
from mmedge.pipeline.telemetry import Telemetry
from mmedge.runtime.model import Model, softmax
from mmedge.sources.base import AudioChunk, Source, VideoFrame
from mmedge.sources.queues import CLOSED, BoundedQueue

log = logging.getLogger(__name__)

FUSION_METHODS = (*LATE_METHODS, "head", "model")


@dataclass
class _End:
    modality: str


class Modality:
    """One source and what runs on it: a Model (its results are fused) or nothing (raw windows
    for a model-level bundle)."""

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
        self.threads: list[threading.Thread] = []
        self.raw_spec: pp.Spec | None = None  # the model-level bundle's spec for raw windows


class Pipeline:
    """A multimodal pipeline; build it with add() and fuse(), then iterate, run() or use it as
    a context manager. queue_size: items buffered between a source and its worker."""

    def __init__(self, *, queue_size: int = 8) -> None:
        self.queue_size = queue_size
        self._modalities: dict[str, Modality] = {}
        self._fusion: dict[str, Any] = {"method": "log_linear"}
        self._callbacks: list[Callable[[FusedResult], None]] = []
        self._error_callbacks: list[Callable[[str, str, BaseException], None]] = []
        self.telemetry = Telemetry()
        self._results: BoundedQueue | None = None
        self._collected: list[FusedResult] | None = None
        self._fuse_queue = BoundedQueue(1 << 16, drop_oldest=False)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._started = False
        self._owned: list[Model] = []

    # -- building ------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        source: Source,
        bundle: str | Path | Bundle | Model | None = None,
        *,
        weight: float = 1.0,
        window_s: float | None = None,
        hop_s: float | None = None,
        every_n: int = 1,
        **model_options: Any,
    ) -> Pipeline:
        """Adds a modality: `source` feeds `bundle` (a path, Bundle or Model). Without a bundle
        the modality only supplies aligned raw inputs to a model-level fusion bundle.
        weight: its late-fusion weight. window_s/hop_s: audio window and step, s (default: the
        spec's analysis window and half of it). every_n: run an image model on every n-th
        frame. model_options: for Model() (backend, precision, intra_op_threads, ...)."""
        if self._started:
            raise MMEdgeError("add() after start()")
        if name in self._modalities:
            raise MMEdgeError(f"modality {name!r} is already in the pipeline")
        if not isinstance(source, Source):
            raise MMEdgeError(
                f"{name}: source must be an mmedge.sources.Source, got {type(source).__name__}"
            )
        if every_n < 1:
            raise MMEdgeError(f"{name}: every_n must be >= 1, got {every_n}")
        model = None
        if isinstance(bundle, Model):
            model = bundle
        elif bundle is not None:
            model_options.setdefault("intra_op_threads", self._threads_per_model())
            model = Model(bundle, **model_options)
        if model is not None:
            spec = model.spec
            kind_ok = {"video": (pp.ImageSpec, pp.VideoSpec), "audio": (pp.AudioSpec,)}
            if len(model.inputs) != 1 or not isinstance(spec, kind_ok[source.kind]):
                if model is not bundle:
                    model.close()
                raise MMEdgeError(
                    f"{name}: a {source.kind} source needs a single-input "
                    f"{'image or video' if source.kind == 'video' else 'audio'} bundle; "
                    f"{model.bundle.name} takes {[t.name for t in model.inputs]} "
                    f"({type(spec).__name__ if spec else 'tensors'})"
                )
        if model is not None and model is not bundle:
            self._owned.append(model)
        self._modalities[name] = Modality(
            name, source, model, weight, window_s, hop_s, every_n, self.queue_size
        )
        return self

    @staticmethod
    def _threads_per_model() -> int:
        return 1 if (os.cpu_count() or 1) <= 2 else 2

    def fuse(
        self,
        method: str = "log_linear",
        *,
        weights: Mapping[str, float] | None = None,
        trigger: str | None = None,
        rate_hz: float | None = None,
        max_skew_ms: float = 500.0,
        head: str | Path | Bundle | Model | None = None,
        head_inputs: Mapping[str, str] | None = None,
        model: str | Path | Bundle | Model | None = None,
        model_inputs: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """How results are combined.

        method: weighted_mean | log_linear | max (late fusion of probabilities), head (a fusion
            bundle over embeddings; head_inputs maps its inputs to modalities), model (a jointly
            trained bundle; model_inputs maps its inputs to modalities, whose raw windows it
            takes). weights: late-fusion weights by modality (default: each modality's weight).
        trigger: the anchor modality (a fused result per anchor result; default: the first
            modality added), or rate_hz: a fused result every 1/rate_hz s of source time.
        max_skew_ms: a modality contributes its newest result ending at most this long before
            the trigger time (and not after it); staler ones are left out.
        """
        if method not in FUSION_METHODS:
            raise FusionError(f"fusion method must be one of {FUSION_METHODS}, got {method!r}")
        if rate_hz is not None and (trigger is not None or rate_hz <= 0):
            raise FusionError("give either trigger (a modality) or a positive rate_hz")
        if max_skew_ms < 0:
            raise FusionError(f"max_skew_ms must be >= 0, got {max_skew_ms}")
        f: dict[str, Any] = {
            "method": method,
            "weights": dict(weights or {}),
            "trigger": trigger,
            "rate_hz": rate_hz,
            "max_skew_s": max_skew_ms / 1000.0,
        }
        if method == "head":
            if head is None or not head_inputs:
                raise FusionError("method 'head' needs head= (a fusion bundle) and head_inputs=")
            f["head"] = self._load(head)
            f["head_inputs"] = dict(head_inputs)
        if method == "model":
            if model is None or not model_inputs:
                raise FusionError("method 'model' needs model= (a joint bundle) and model_inputs=")
            f["model"] = self._load(model)
            f["model_inputs"] = dict(model_inputs)
        self._fusion = f
        return self

    def _load(self, bundle: str | Path | Bundle | Model) -> Model:
        if isinstance(bundle, Model):
            return bundle
        model = Model(bundle, intra_op_threads=self._threads_per_model())
        self._owned.append(model)
        return model

    @property
    def modalities(self) -> dict[str, Modality]:
        """The modalities by name: each one's source, model (None in raw mode) and weight."""
        return dict(self._modalities)

    def on_result(self, callback: Callable[[FusedResult], None]) -> Pipeline:
        """Calls callback(result) in the fuser thread for every fused result (keep it short)."""
        self._callbacks.append(callback)
        return self

    def on_error(self, callback: Callable[[str, str, BaseException], None]) -> Pipeline:
        """Calls callback(modality, stage, exception) when a source or model fails."""
        self._error_callbacks.append(callback)
        return self

    # -- checking ------------------------------------------------------------------------------

    def _validate(self) -> None:
        if not self._modalities:
            raise MMEdgeError("the pipeline has no modalities: add() at least one")
        f = self._fusion
        names = list(self._modalities)
        trigger = f.get("trigger") or (None if f.get("rate_hz") else names[0])
        if trigger is not None and trigger not in self._modalities:
            raise FusionError(f"trigger {trigger!r} is not a modality ({names})")
        f["trigger"] = trigger
        for m in f.get("weights", {}):
            if m not in self._modalities:
                raise FusionError(f"weights name {m!r}, which is not a modality ({names})")
        method = f["method"]
        if method in LATE_METHODS:
            scored = [m for m in self._modalities.values() if m.model is not None]
            if not scored:
                raise FusionError("late fusion needs at least one modality with a bundle")
            labels = {tuple(m.model.labels) for m in scored if m.model is not None}
            if len(labels) > 1:
                raise FusionError(
                    "late fusion needs the same labels in every bundle; got "
                    + "; ".join(
                        f"{m.name}: {m.model.labels[:5]}..." for m in scored if m.model is not None
                    )
                )
        if method == "head":
            head: Model = f["head"]
            for input_name, modality in f["head_inputs"].items():
                m = self._modalities.get(modality)
                if m is None or m.model is None:
                    raise FusionError(
                        f"head input {input_name!r}: {modality!r} is not a modality with a bundle"
                    )
                if not any(o.kind == "embedding" for o in m.model.outputs):
                    raise FusionError(
                        f"{modality}: bundle {m.model.bundle.name} has no "
                        "embedding output for the fusion head"
                    )
            if set(f["head_inputs"]) != {t.name for t in head.inputs}:
                raise FusionError(
                    f"head_inputs must name the head's inputs {[t.name for t in head.inputs]}"
                )
        if method == "model":
            joint: Model = f["model"]
            if set(f["model_inputs"]) != {t.name for t in joint.inputs}:
                raise FusionError(
                    f"model_inputs must name the joint bundle's inputs "
                    f"{[t.name for t in joint.inputs]}"
                )
            for input_name, modality in f["model_inputs"].items():
                if modality not in self._modalities:
                    raise FusionError(f"model input {input_name!r}: {modality!r} is not a modality")
                self._modalities[modality].raw_spec = joint.specs[input_name]

    # -- running -------------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Starts every thread; returns at once."""
        if self._started:
            return self
        self._validate()
        self._started = True
        for m in self._modalities.values():
            self.telemetry.watch_depth(m.name, m.queue.__len__)
            m.threads = [
                threading.Thread(
                    target=self._read, args=(m,), name=f"mmedge-{m.name}-reader", daemon=True
                ),
                threading.Thread(
                    target=self._work, args=(m,), name=f"mmedge-{m.name}-worker", daemon=True
                ),
            ]
            self._threads += m.threads
        self._threads.append(
            threading.Thread(target=self._fuse_loop, name="mmedge-fuser", daemon=True)
        )
        for t in self._threads:
            t.start()
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until every source has ended and its last result was fused (or timeout);
        True when finished."""
        return self._done.wait(timeout_s)

    def run(self, timeout_s: float | None = None) -> list[FusedResult]:
        """Starts, runs until the sources end (or timeout_s for live sources), stops; returns
        every fused result."""
        self._collected = []
        self.start()
        self.wait(timeout_s)
        self.stop()
        return list(self._collected)

    def __iter__(self) -> Iterator[FusedResult]:
        """Fused results as they come (starts the pipeline; ends when the sources end)."""
        if self._results is None:
            if self._started:
                raise MMEdgeError("iterate before start(): results already produced are gone")
            self._results = BoundedQueue(256, drop_oldest=False)
        self.start()
        try:
            while True:
                item = self._results.get()
                if item is CLOSED:
                    return
                yield item
        finally:
            self.stop()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops the sources and joins every thread; closes the models it opened. Idempotent."""
        self._stop.set()
        for m in self._modalities.values():
            try:
                m.source.close()
            except Exception as exc:  # a broken device must not keep the others running
                self.telemetry.error(m.name, "close", exc)
            m.queue.close()
        self._fuse_queue.close()
        if self._results is not None:
            self._results.close()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("threads still running after stop(): %s", alive)
        for model in self._owned:
            model.close()
        self._owned.clear()
        self._done.set()

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Telemetry: per modality and stage count, p50/p95/p99/max ms, fps; drops, queue
        depth, source counters; errors."""
        snap = self.telemetry.snapshot()
        for m in self._modalities.values():
            entry = snap["modalities"].setdefault(m.name, {})
            entry["dropped"] = m.queue.dropped + int(m.source.stats().get("dropped", 0))
            entry["source"] = m.source.stats()
        return snap

    def dump_stats(self, path: str | Path) -> Path:
        import json

        path = Path(path)
        path.write_text(json.dumps(self.stats(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

    def plot_latency(self, path: str | Path) -> Path:
        return self.telemetry.plot(path)

    # -- threads -------------------------------------------------------------------------------

    def _report(self, modality: str, stage: str, exc: BaseException) -> None:
        log.error("%s %s failed: %s", modality, stage, exc)
        self.telemetry.error(modality, stage, exc)
        self.telemetry.count(modality, "errors")
        for cb in self._error_callbacks:
            try:
                cb(modality, stage, exc)
            except Exception:  # a broken callback must not stop the pipeline
                log.exception("on_error callback failed")

    def _read(self, m: Modality) -> None:
        try:
            m.source.open()
            while not self._stop.is_set():
                t0 = time.perf_counter()
                item = m.source.read()
                if item is None:
                    break
                decode = getattr(m.source, "last_decode_ms", None)
                if decode is None and not m.source.live:  # a live read mostly waits: not decode
                    decode = (time.perf_counter() - t0) * 1e3
                if decode is not None:
                    self.telemetry.record(m.name, "decode", decode)
                if not m.queue.put(item):
                    break
        except Exception as exc:
            if not self._stop.is_set():
                self._report(m.name, "source", exc)
        finally:
            m.queue.put(_End(m.name))

    MAX_ERRORS_IN_ROW = 10

    def _work(self, m: Modality) -> None:
        """Preprocess + infer. A failing item is reported and skipped; after MAX_ERRORS_IN_ROW
        failures in a row the modality stops (the others keep running)."""
        runner = _Runner(m, self.telemetry)
        errors_in_row = 0
        try:
            while True:
                item = m.queue.get()
                if item is CLOSED or isinstance(item, _End):
                    break
                try:
                    t0 = time.perf_counter()
                    runner.busy_ms = 0.0
                    results = runner.feed(item)
                    errors_in_row = 0
                except Exception as exc:
                    self._report(m.name, "infer", exc)
                    errors_in_row += 1
                    if errors_in_row >= self.MAX_ERRORS_IN_ROW:
                        self._report(
                            m.name,
                            "infer",
                            MMEdgeError(
                                f"{m.name} stopped after {errors_in_row} failures in a row"
                            ),
                        )
                        break
                    continue
                for result in results:
                    self._fuse_queue.put(result)
                # the pipeline's own work on this item: windowing, stacking, hand-over
                self.telemetry.record(
                    m.name, "overhead", (time.perf_counter() - t0) * 1e3 - runner.busy_ms
                )
            if errors_in_row < self.MAX_ERRORS_IN_ROW:
                for result in runner.flush():
                    self._fuse_queue.put(result)
        except Exception as exc:
            self._report(m.name, "infer", exc)
        finally:
            self._fuse_queue.put(_End(m.name))

    def _fuse_loop(self) -> None:
        f = self._fusion
        names = list(self._modalities)
        live = any(m.source.live for m in self._modalities.values())
        aligner = Aligner(names, f["max_skew_s"])
        watermark = {n: -math.inf for n in names}  # newest t_end per modality; inf once ended
        ended: set[str] = set()
        pending: collections.deque[float] = collections.deque()
        rate = f.get("rate_hz")
        next_tick, last_wall_tick, newest_end = 0.0, time.monotonic(), -math.inf
        try:
            while True:
                item = self._fuse_queue.get(timeout=(0.5 / rate) if (rate and live) else None)
                if item is CLOSED:
                    break
                if isinstance(item, _End):
                    ended.add(item.modality)
                    watermark[item.modality] = math.inf
                elif isinstance(item, ModalityResult):
                    aligner.add(item)
                    watermark[item.modality] = max(watermark[item.modality], item.t_end_s)
                    newest_end = max(newest_end, item.t_end_s)
                    if f["trigger"] == item.modality:
                        pending.append(item.t_end_s)
                if rate and live:  # every 1/rate s of wall time, at the newest source time
                    if time.monotonic() - last_wall_tick >= 1.0 / rate and newest_end > -math.inf:
                        last_wall_tick = time.monotonic()
                        pending.append(newest_end)
                elif rate:  # source time: every 1/rate s up to where all modalities have been
                    horizon = min(min(watermark.values()), newest_end)
                    while next_tick <= horizon:
                        pending.append(next_tick)
                        next_tick += 1.0 / rate
                while pending and (live or all(watermark[n] >= pending[0] for n in names)):
                    self._emit(aligner, pending.popleft())
                if pending:
                    aligner.prune(pending[0])
                elif not live:
                    aligner.prune(min(min(watermark.values()), newest_end))
                else:  # an anchor's next result may end a little before the newest one
                    aligner.prune(newest_end - max(1.0, 4 * f["max_skew_s"]))
                if len(ended) == len(names):
                    while pending:
                        self._emit(aligner, pending.popleft())
                    break
        finally:
            if self._results is not None:
                self._results.close()
            self._done.set()

    def _emit(self, aligner: Aligner, t: float) -> None:
        t0 = time.perf_counter()
        chosen = aligner.select(t)
        try:
            result = self._combine(chosen, t)
        except Exception as exc:
            self._report("fusion", "fuse", exc)
            return
        if result is None:
            return
        self.telemetry.record("fusion", "fuse", (time.perf_counter() - t0) * 1e3)
        self.telemetry.record("fusion", "end_to_end", result.latency_ms)
        if self._collected is not None:
            self._collected.append(result)
        if self._results is not None:
            self._results.put(result)
        for cb in self._callbacks:
            try:
                cb(result)
            except Exception as exc:
                self._report("fusion", "on_result", exc)

    def _combine(self, chosen: dict[str, ModalityResult], t: float) -> FusedResult | None:
        f = self._fusion
        method = f["method"]
        note = ""
        labels: list[str] = []
        weights_used: dict[str, float] = {}
        probs: np.ndarray | None = None
        if method == "model":
            joint: Model = f["model"]
            inputs = f["model_inputs"]
            if all(m in chosen for m in inputs.values()):
                sample = {i: chosen[m].raw for i, m in inputs.items()}
                feeds = joint.preprocess(sample if len(sample) > 1 else next(iter(sample.values())))
                raw = joint.infer(feeds)[joint.output.name][0]
                probs = softmax(raw) if joint.output.kind == "logits" else raw
                labels = joint.labels
                weights_used = {m: 1.0 / len(inputs) for m in inputs.values()}
            else:
                return None  # a joint model cannot run without all of its inputs
        if method == "head":
            head: Model = f["head"]
            inputs = f["head_inputs"]
            if all(m in chosen and chosen[m].embedding is not None for m in inputs.values()):
                feeds = {i: chosen[m].embedding[None].astype(np.float32) for i, m in inputs.items()}
                raw = head.infer(feeds)[head.output.name][0]
                probs = softmax(raw) if head.output.kind == "logits" else raw
                labels = head.labels
                weights_used = {m: 1.0 / len(inputs) for m in inputs.values()}
            else:
                missing = [m for m in inputs.values() if m not in chosen]
                note = f"head needs {missing}: fell back to log_linear"
        if probs is None:
            scored = {n: r.probs for n, r in chosen.items() if r.probs is not None}
            if not scored:
                return None
            weights = {n: f["weights"].get(n, self._modalities[n].weight) for n in scored}
            late = method if method in LATE_METHODS else "log_linear"
            probs, weights_used = late_fusion(scored, weights, late)
            model = next(m.model for m in self._modalities.values() if m.model is not None)
            labels = model.labels
        index = int(np.argmax(probs))
        contributors = []
        for n, r in chosen.items():
            own_label, own_score = None, None
            if r.probs is not None:
                k = int(np.argmax(r.probs))
                m_labels = self._modalities[n].model.labels  # type: ignore[union-attr]
                own_label = m_labels[k] if k < len(m_labels) else str(k)
                own_score = float(r.probs[k])
            contributors.append(
                Contribution(
                    n,
                    r.t_start_s,
                    r.t_end_s,
                    (t - r.t_end_s) * 1e3,
                    weights_used.get(n, 0.0),
                    own_label,
                    own_score,
                )
            )
        newest = max(r.arrived for r in chosen.values())
        return FusedResult(
            t_s=t,
            label=labels[index] if index < len(labels) else str(index),
            index=index,
            score=float(probs[index]),
            probs=np.asarray(probs, np.float32),
            method=method if not note else f"{method}->log_linear",
            contributors=contributors,
            missing=[n for n in self._modalities if n not in chosen],
            latency_ms=(time.monotonic() - newest) * 1e3,
            note=note,
        )


class _Runner:
    """Turns one modality's items into ModalityResults: windows audio, stacks video, runs the
    model (or hands the raw window on)."""

    def __init__(self, m: Modality, telemetry: Telemetry) -> None:
        self.m, self.telemetry = m, telemetry
        spec = m.spec if m.model is not None else m.raw_spec
        self.spec = spec
        self.frames_seen = 0
        self.stack: pp.FrameStack | None = None
        self.frame_times: collections.deque[tuple[float, float, float]] = collections.deque()
        if isinstance(spec, pp.VideoSpec):
            need = spec.clip_len * spec.stride - (spec.stride - 1)
            self.frame_times = collections.deque(maxlen=need)
            self.raw_frames: collections.deque[np.ndarray] = collections.deque(maxlen=need)
            if m.model is not None:
                self.stack = pp.FrameStack(spec)
        # audio windowing state
        self.rate = spec.sample_rate_hz if isinstance(spec, pp.AudioSpec) else None
        window = m.window_s or (spec.analysis_seconds if isinstance(spec, pp.AudioSpec) else None)
        self.window_s = window or 1.0
        self.hop_s = m.hop_s or self.window_s / 2
        self.resampler: pp.Resampler | None = None
        self.buffer = np.zeros(0, np.float32)
        self.origin_s: float | None = None
        self.consumed = 0
        self.emitted_to = 0
        self.last_arrived = 0.0
        self.last_end_s: float | None = None
        self.busy_ms = 0.0  # preprocess + infer time of the current item, ms

    def _run_model(
        self,
        sample: Any,
        t0: float,
        t1: float,
        arrived: float,
        feeds: dict[str, np.ndarray] | None = None,
        prep_ms: float = 0.0,
    ) -> ModalityResult:
        model = self.m.model
        assert model is not None
        tp = time.perf_counter()
        if feeds is None:
            feeds = model.preprocess(sample)
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
            self.m.name, t0, t1, probs=probs, embedding=embedding, arrived=arrived, outputs=row
        )

    def feed(self, item: VideoFrame | AudioChunk) -> list[ModalityResult]:
        if isinstance(item, VideoFrame):
            return self._frame(item)
        return self._chunk(item)

    def _frame(self, frame: VideoFrame) -> list[ModalityResult]:
        m, spec = self.m, self.spec
        self.frames_seen += 1
        if isinstance(spec, pp.VideoSpec):
            self.frame_times.append((frame.t_s, frame.t_end_s, frame.arrived))
            if self.stack is None:  # raw clips for a model-level bundle
                self.raw_frames.append(frame.image)
                if len(self.raw_frames) < self.raw_frames.maxlen:  # type: ignore[operator]
                    return []
                return [
                    ModalityResult(
                        m.name,
                        self.frame_times[0][0],
                        frame.t_end_s,
                        raw=np.stack(self.raw_frames),
                        arrived=frame.arrived,
                    )
                ]
            tp = time.perf_counter()
            clip = self.stack.push(frame.image)
            prep_ms = (time.perf_counter() - tp) * 1e3
            if clip is None:
                return []
            feeds = {m.model.input_name: clip}  # type: ignore[union-attr]
            return [
                self._run_model(
                    None, self.frame_times[0][0], frame.t_end_s, frame.arrived, feeds, prep_ms
                )
            ]
        if (self.frames_seen - 1) % m.every_n:
            return []
        if m.model is None:
            return [
                ModalityResult(
                    m.name, frame.t_s, frame.t_end_s, raw=frame.image, arrived=frame.arrived
                )
            ]
        return [self._run_model(frame.image, frame.t_s, frame.t_end_s, frame.arrived)]

    def _chunk(self, chunk: AudioChunk) -> list[ModalityResult]:
        rate = self.rate or chunk.sample_rate_hz
        self.rate = rate
        expected = self.last_end_s
        if (
            self.m.source.live
            and expected is not None
            and chunk.t_s - expected > 0.5 * chunk.duration_s
        ):
            self.telemetry.count(self.m.name, "gaps")
            self.origin_s, self.buffer, self.consumed, self.resampler = (
                None,
                self.buffer[:0],
                0,
                None,
            )
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
            t1 = t0 + window / self.rate
            if self.m.model is None:
                out.append(
                    ModalityResult(
                        self.m.name,
                        t0,
                        t1,
                        raw=samples,
                        sample_rate_hz=self.rate,
                        arrived=self.last_arrived,
                    )
                )
            else:
                out.append(self._run_model(samples, t0, t1, self.last_arrived))
            self.emitted_to = self.consumed + min(window, len(self.buffer))
            self.buffer = self.buffer[hop:]
            self.consumed += hop
        return out
