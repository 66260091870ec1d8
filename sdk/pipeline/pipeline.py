"""mmedge.Pipeline: sources -> per-modality preprocess + inference -> alignment -> fusion.

>>> import mmedge
>>> from mmedge.sources import SyntheticScene  # or VideoFile, AudioFile, Camera, Microphone
>>> scene = SyntheticScene(2.0, seed=0)
>>> pipe = (
...     mmedge.Pipeline()
...     .add("image", scene.video, mmedge.builtin_bundle("scene_image"))
...     .add("audio", scene.audio, mmedge.builtin_bundle("scene_audio"))
...     .fuse("log_linear", trigger="image", max_skew_ms=500)
... )
>>> with pipe:  # or pipe.run(), or pipe.on_result(callback).run()
...     results = [result for result in pipe]
>>> len(results)  # one per image result: 2 s at 15 fps
30
>>> sorted(c.modality for c in results[-1].contributors)
['audio', 'image']

Pipeline is the facade; the jobs live beside it: branches.py turns one modality's items into
results, scheduler.py decides which trigger times are due and what each fuses, fusion.py holds
the fusers, workers.py the threads, telemetry.py the numbers. Live sources feed drop-oldest
queues (never fall behind the sensor; drops counted); recorded sources block (nothing lost) and
a run over files gives the same results every time. A failing source or model is reported
(stats()['errors'], on_error) and the other modalities keep running. stop() joins every thread
and closes every source.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmedge.errors import MMEdgeError
from mmedge.pipeline.batch_branch import BatchBranch
from mmedge.pipeline.branches import Modality, make_branch
from mmedge.pipeline.device_stats import DeviceStats
from mmedge.pipeline.fusion import (
    FUSERS,
    BundleRef,
    FusionConfig,
    FusionError,
    LateFuser,
    make_fuser,
)
from mmedge.pipeline.modalities import (
    ModalityOptions,
    single_modality,
    stream_group,
    threads_per_model,
)
from mmedge.pipeline.results import FusedResult
from mmedge.pipeline.scheduler import Scheduler
from mmedge.pipeline.streams import StreamGroup, stream_sources
from mmedge.pipeline.telemetry import Telemetry
from mmedge.pipeline.workers import Workers
from mmedge.runtime.model import Model
from mmedge.sources.base import Source
from mmedge.sources.queues import CLOSED, BoundedQueue
from mmedge.track.events import LineCounter, Region
from mmedge.track.tracker import Tracker

log = logging.getLogger(__name__)

RESULTS_BUFFER = 256  # fused results kept for an iterator (the newest, until one attaches)
LIVE_RESULTS_BUFFER = 16  # over live sources: an iterator never gets one older than this many


class Pipeline:
    """A multimodal pipeline; build it with add() and fuse(), then iterate, run() or use it as
    a context manager (iteration inside `with` works, and iteration alone starts and stops it).
    queue_size: items buffered between a source and its worker."""

    def __init__(self, *, queue_size: int = 8) -> None:
        self.queue_size = queue_size
        self._modalities: dict[str, Modality] = {}
        self._config = FusionConfig()
        self._fuser: Any = LateFuser("log_linear")
        self._callbacks: list[Callable[[FusedResult], None]] = []
        self._error_callbacks: list[Callable[[str, str, BaseException], None]] = []
        self.telemetry = Telemetry()
        self.device = DeviceStats()  # the board's load, power, temperatures (jtop, on a Jetson)
        self._results: BoundedQueue | None = None
        self._collected: list[FusedResult] | None = None
        self._workers: Workers | None = None
        self._done = threading.Event()
        self._started = self._stopped = False
        self._state_lock = threading.Lock()  # start() and stop() from any threads, in any order
        self._owned: list[Model] = []
        self._groups: dict[str, StreamGroup] = {}

    # -- building ------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        source: Source | Sequence[Source] | Mapping[str, Source],
        bundle: BundleRef | None = None,
        *,
        weight: float = 1.0,
        window_s: float | None = None,
        hop_s: float | None = None,
        every_n: int = 1,
        track: bool | Tracker = False,
        counters: Sequence[LineCounter | Region] = (),
        rescore: float = 1.0,
        batch: bool = False,
        max_delay_ms: float = 10.0,
        pad: bool = False,
        **model_options: Any,
    ) -> Pipeline:
        """Adds a modality: `source` feeds `bundle` (a path, Bundle or Model). Without a bundle
        the modality only supplies aligned raw inputs to a model-level fusion bundle.
        weight: its late-fusion weight. window_s/hop_s: audio window and step, s (default: the
        spec's analysis window and half of it). every_n: run an image model on every n-th
        frame. track: for a detection bundle, track its boxes (True: mmedge.track.Tracker()
        with its defaults, or a Tracker); FusedResult.detections[name] carries them with the
        frame's source time. counters: LineCounters and Regions over its tracks (their events
        in FusedResult.events[name]). rescore: how strongly the classifier modalities' class
        evidence re-scores its boxes (FusedResult.rescored; mmedge.pipeline.detection_fusion;
        0: not at all). model_options: for Model() (backend, precision, intra_op_threads, ...).

        Several streams (a list of sources, or a dict by stream name): one modality per stream,
        named "name/0", ... (or "name/key"). batch=True runs them through one shared model in
        batches (mmedge.pipeline.streams): a batch closes max_delay_ms (ms) after its first
        frame arrived or when every stream has a frame in it; pad=True always runs as many rows
        as streams. batch=False gives each stream a model of its own.
        """
        if self._started:
            raise MMEdgeError("add() after start()")
        streams = stream_sources(name, source)
        taken = [n for n in (name, *(streams or ())) if n in self._modalities or n in self._groups]
        if taken:
            raise MMEdgeError(f"modality {taken[0]!r} is already in the pipeline")
        o = ModalityOptions(
            weight, window_s, hop_s, every_n, track, counters, rescore, self.queue_size
        )
        if streams is None:
            m = single_modality(name, source, bundle, o, self._owned, model_options)  # type: ignore[arg-type]
            self._modalities[name] = m
        elif batch:
            group = stream_group(
                name, streams, bundle, o, self._owned, model_options, max_delay_ms, pad
            )
            self._modalities.update({m.name: m for m in group.members})
            self._groups[name] = group
        else:
            for stream, src in streams.items():
                m = single_modality(stream, src, bundle, o, self._owned, dict(model_options))
                self._modalities[stream] = m
        return self

    def fuse(
        self,
        method: str = "log_linear",
        *,
        weights: dict[str, float] | None = None,
        trigger: str | None = None,
        rate_hz: float | None = None,
        max_skew_ms: float = 500.0,
        **options: Any,
    ) -> Pipeline:
        """How results are combined (mmedge.pipeline.fusion; FusionConfig says the rest).

        method: weighted_mean | log_linear | max (late fusion of probabilities), head (a fusion
            bundle over embeddings: head=BUNDLE, head_inputs={head input: modality}), model (a
            jointly trained bundle: model=BUNDLE, model_inputs={its input: modality}, whose
            raw windows it takes), or any method a registered fuser adds; options go to it.
        weights: late-fusion weights by modality (default: each modality's weight).
        trigger: the anchor modality (a fused result per anchor result; default: the first
            modality added), or rate_hz: a fused result every 1/rate_hz s of source time.
        max_skew_ms: a modality contributes its newest result ending at most this long before
            the trigger time (and not after it); staler ones are left out.
        """
        if method not in FUSERS:
            raise FusionError(f"fusion method must be one of {tuple(FUSERS)}, got {method!r}")
        config = FusionConfig(method, weights or {}, trigger, rate_hz, max_skew_ms)
        self._fuser = make_fuser(method, options, self._load)
        self._config = config
        return self

    def _load(self, bundle: BundleRef) -> Model:
        if isinstance(bundle, Model):
            return bundle
        model = Model(bundle, intra_op_threads=threads_per_model())
        self._owned.append(model)
        return model

    @property
    def _live(self) -> bool:
        return any(m.source.live for m in self._modalities.values())

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

    # -- running -------------------------------------------------------------------------------

    def _prepare(self) -> Workers:
        """Checks the fusion against the modalities and builds the run's branches, scheduler
        and threads."""
        if not self._modalities:
            raise MMEdgeError("the pipeline has no modalities: add() at least one")
        names = list(self._modalities)
        self._config = config = self._config.resolved(names)
        self._fuser.check(self._modalities, config)
        for modality, spec in self._fuser.raw_inputs().items():
            self._modalities[modality].raw_spec = spec
        branches = {
            n: make_branch(m, self.telemetry)
            for n, m in self._modalities.items()
            if m.group is None
        }
        scheduler = Scheduler(
            names,
            trigger=config.trigger,
            rate_hz=config.rate_hz,
            max_skew_s=config.max_skew_s,
            live=self._live,
        )
        return Workers(
            self._modalities,
            branches,
            scheduler,
            self._fuser,
            self.telemetry,
            self._report,
            self._deliver,
            self._finish,
            {n: BatchBranch(g, self.telemetry) for n, g in self._groups.items()},
        )

    def start(self) -> Pipeline:
        """Starts every thread; returns at once."""
        with self._state_lock:
            if self._stopped:
                raise MMEdgeError("the pipeline was stopped; a stopped pipeline does not restart")
            if self._started:
                return self
            self._workers = self._prepare()
            size = LIVE_RESULTS_BUFFER if self._live else RESULTS_BUFFER
            self._results = BoundedQueue(size, drop_oldest=True)
            self._started = True
            self.device.start()
            self._workers.start()
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until every source has ended and its last result was fused (or timeout);
        True when finished."""
        return self._done.wait(timeout_s)

    def run(self, timeout_s: float | None = None) -> list[FusedResult]:
        """Starts, runs until the sources end (or timeout_s for live sources), stops; returns
        every fused result. An exception in the waiting thread (KeyboardInterrupt, a signal
        handler's) stops the pipeline, joining every thread, before it propagates."""
        self._collected = []
        try:
            self.start()
            self.wait(timeout_s)
        finally:
            self.stop()
        return list(self._collected)

    def __iter__(self) -> Iterator[FusedResult]:
        """Fused results as they come; starts the pipeline if needed and stops it when the
        sources end (or the loop is left). Results fused before the loop began are kept (the
        newest RESULTS_BUFFER (256) of them). Over recorded sources none is dropped from then on (a
        slow loop slows the pipeline down); over live sources a loop that falls behind loses
        the oldest results (counted in stats()['modalities']['fusion']['dropped']) and never
        sees one older than LIVE_RESULTS_BUFFER (16) results."""
        self.start()
        results = self._results
        assert results is not None
        results.set_drop_oldest(self._live)
        if results.dropped:
            log.warning(
                "%d fused results came before iteration began and were dropped", results.dropped
            )
        try:
            while True:
                item = results.get()
                if item is CLOSED:
                    return
                yield item
        finally:
            if results.dropped:
                self.telemetry.count("fusion", "dropped", results.dropped)
            self.stop()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops the sources and joins every thread; closes the models it opened. Idempotent
        and safe from any thread at any moment (a second caller waits for the first)."""
        inside = self._workers is not None and self._workers.runs_current_thread()
        # From the pipeline's own threads (an on_result callback) never wait: the stop under
        # way joins this very thread.
        if not self._state_lock.acquire(blocking=not inside):
            return
        try:
            if self._stopped:
                return
            self._stopped = True
            self._stop_workers(timeout_s)
            self.device.stop()
            for model in self._owned:
                model.close()
            self._owned.clear()
            self._done.set()
        finally:
            self._state_lock.release()

    def _stop_workers(self, timeout_s: float) -> None:
        if self._results is not None:  # a fuser blocked on a consumer that left returns
            self._results.close()
        if self._workers is not None:
            alive = self._workers.stop(timeout_s)
            if alive:
                log.warning("threads still running after stop(): %s", alive)
            return
        for m in self._modalities.values():  # never started: only the sources to close
            try:
                m.source.close()
            except Exception as exc:  # a broken device must not keep the others open
                self.telemetry.error(m.name, "close", exc)

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- results and failures (fuser / worker threads) -----------------------------------------

    def _deliver(self, result: FusedResult) -> None:
        if self._collected is not None:
            self._collected.append(result)
        if self._results is not None:
            self._results.put(result)
        for cb in self._callbacks:
            try:
                cb(result)
            except Exception as exc:
                self._report("fusion", "on_result", exc)

    def _finish(self) -> None:
        if self._results is not None:
            self._results.close()
        self._done.set()

    def _report(self, modality: str, stage: str, exc: BaseException) -> None:
        log.error("%s %s failed: %s", modality, stage, exc)
        self.telemetry.error(modality, stage, exc)
        self.telemetry.count(modality, "errors")
        for cb in self._error_callbacks:
            try:
                cb(modality, stage, exc)
            except Exception:  # a broken callback must not stop the pipeline
                log.exception("on_error callback failed")

    # -- telemetry -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Telemetry: per modality and stage count, p50/p95/p99/max ms, fps; drops, queue
        depth, source counters; errors; the device's load, power and temperatures
        ('device': from jtop on a Jetson, else why not; see pipeline.device_stats)."""
        snap = self.telemetry.snapshot()
        snap["device"] = self.device.snapshot()
        for m in self._modalities.values():
            entry = snap["modalities"].setdefault(m.name, {})
            entry["dropped"] = m.queue.dropped + int(m.source.stats().get("dropped", 0))
            entry["source"] = m.source.stats()
        return snap

    def dump_stats(self, path: str | Path) -> Path:
        """Writes stats() as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.stats(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

    def plot_latency(self, path: str | Path) -> Path:
        """Box plot of every stage's latency (needs matplotlib)."""
        return self.telemetry.plot(path)
