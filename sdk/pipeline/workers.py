"""The threads of a running pipeline: one reader per source (decode), one worker per modality
(its branch: preprocess + infer), one fuser (the scheduler decides what is due, the fuser
combines it).

Failure policy: nothing blocks on a failed part. A source that fails (at open or mid-stream) is
reported and its modality ends; a model that fails an item is reported and the item skipped; a
modality whose model fails MAX_ERRORS_IN_ROW items in a row is reported, ends and closes its
source (a tee() branch then stops taking items, so the other branches keep theirs). The run
goes on with the other modalities and ends when every modality has ended. Every thread body
reports what escapes it, so no thread dies silently.

Shutdown: stop() (any thread, any moment) closes the queues, which wakes every blocked put and
get; closes the sources, which waits for a decode in progress (mmedge.sources.base.Source);
and joins every thread. Each reader also closes its own source when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mmedge.errors import MMEdgeError
from mmedge.pipeline.assembly import assemble
from mmedge.pipeline.batch_branch import BatchBranch
from mmedge.pipeline.branches import Branch, Modality
from mmedge.pipeline.fusion import Fuser
from mmedge.pipeline.results import FusedResult, ModalityResult
from mmedge.pipeline.scheduler import Scheduler
from mmedge.pipeline.telemetry import Telemetry
from mmedge.sources.base import VideoFrame
from mmedge.sources.queues import CLOSED, BoundedQueue

log = logging.getLogger(__name__)

Report = Callable[[str, str, BaseException], None]
"""report(owner, stage, exception): a failure, for telemetry and on_error callbacks."""


@dataclass
class _End:
    """A modality's worker has finished: nothing more comes from it."""

    modality: str


class Workers:
    """Starts and stops the threads of one run. deliver(result) is called in the fuser thread
    for every fused result, finish() once after the last one (or when stopped); `done` is set
    then."""

    MAX_ERRORS_IN_ROW = 10

    def __init__(
        self,
        modalities: Mapping[str, Modality],
        branches: Mapping[str, Branch],
        scheduler: Scheduler,
        fuser: Fuser,
        telemetry: Telemetry,
        report: Report,
        deliver: Callable[[FusedResult], None],
        finish: Callable[[], None],
        groups: Mapping[str, BatchBranch] | None = None,
    ) -> None:
        self.modalities, self.branches = modalities, branches
        self.groups = dict(groups or {})  # batched streams: one worker per group
        self.scheduler, self.fuser = scheduler, fuser
        self.telemetry, self.report = telemetry, report
        self.deliver, self.finish = deliver, finish
        self.done = threading.Event()
        self._stop = threading.Event()
        self._fuse_queue = BoundedQueue(1 << 16, drop_oldest=False)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for m in self.modalities.values():
            self.telemetry.watch_depth(m.name, m.queue.__len__)
            self._threads.append(
                threading.Thread(
                    target=self._read, args=(m,), name=f"mmedge-{m.name}-reader", daemon=True
                )
            )
            if m.group is None:
                self._threads.append(
                    threading.Thread(
                        target=self._work, args=(m,), name=f"mmedge-{m.name}-worker", daemon=True
                    )
                )
        for name, branch in self.groups.items():
            self._threads.append(
                threading.Thread(
                    target=self._work_group,
                    args=(branch,),
                    name=f"mmedge-{name}-batcher",
                    daemon=True,
                )
            )
        self._threads.append(
            threading.Thread(target=self._fuse_loop, name="mmedge-fuser", daemon=True)
        )
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float) -> list[str]:
        """Closes every source and queue and joins the threads; returns the names of those
        still running after timeout_s."""
        self._stop.set()
        for m in self.modalities.values():
            m.queue.close()
        for branch in self.groups.values():
            branch.group.close()
        self._fuse_queue.close()
        for m in self.modalities.values():
            self._close_source(m)
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        self.done.set()
        return [t.name for t in self._threads if t.is_alive()]

    def runs_current_thread(self) -> bool:
        """True in one of this run's threads (a callback of the fuser, for instance)."""
        return threading.current_thread() in self._threads

    def _close_source(self, m: Modality) -> None:
        try:
            m.source.close()
        except Exception as exc:  # a broken device must not keep the others running
            self.telemetry.error(m.name, "close", exc)

    # -- thread bodies -------------------------------------------------------------------------

    def _read(self, m: Modality) -> None:
        """Source -> the modality's queue, timing decode (recorded sources: the read itself)."""
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
                if m.group is not None:
                    m.group.wake()
        except Exception as exc:
            if not self._stop.is_set():
                self.report(m.name, "source", exc)
        finally:
            self._close_source(m)
            m.queue.put(_End(m.name))
            if m.group is not None:
                m.group.wake()

    def _work(self, m: Modality) -> None:
        """Queue -> branch -> the fuser's queue. A failing item is reported and skipped."""
        branch = self.branches[m.name]
        errors_in_row = 0
        try:
            while True:
                item = m.queue.get()
                if item is CLOSED or isinstance(item, _End):
                    break
                t0 = time.perf_counter()
                branch.busy_ms = 0.0
                try:
                    results = branch.feed(item)
                except Exception as exc:
                    errors_in_row += 1
                    if self._gives_up(m.name, exc, errors_in_row):
                        break
                    continue
                errors_in_row = 0
                done = time.monotonic()
                for r in results:  # from the newest input's arrival to its result
                    self.telemetry.record(m.name, "latency", (done - r.arrived) * 1e3)
                self._hand_over(results)
                # the pipeline's own work on this item: windowing, stacking, hand-over
                overhead_ms = (time.perf_counter() - t0) * 1e3 - branch.busy_ms
                self.telemetry.record(m.name, "overhead", overhead_ms)
            if errors_in_row < self.MAX_ERRORS_IN_ROW:
                self._hand_over(branch.flush())
        except Exception as exc:
            self.report(m.name, "infer", exc)
        finally:
            m.queue.close()  # the reader's put returns at once: it ends and closes the source
            self._fuse_queue.put(_End(m.name))

    def _gives_up(self, owner: str, exc: BaseException, in_row: int) -> bool:
        """Reports a failed item; True when that makes MAX_ERRORS_IN_ROW in a row (reported
        too): its owner then stops."""
        self.report(owner, "infer", exc)
        if in_row < self.MAX_ERRORS_IN_ROW:
            return False
        self.report(
            owner, "infer", MMEdgeError(f"{owner} stopped after {in_row} failures in a row")
        )
        return True

    def _work_group(self, branch: BatchBranch) -> None:
        """A StreamGroup's batches -> its branch -> the fuser's queue; every member's end is
        handed over once. A failing batch is reported (under the group's name) and skipped."""
        group, errors_in_row = branch.group, 0
        try:
            while (pairs := group.collect()) is not None:
                for m, item in pairs:
                    if not isinstance(item, VideoFrame):
                        m.queue.close()
                        self._fuse_queue.put(_End(m.name))
                frames = [(m, item) for m, item in pairs if isinstance(item, VideoFrame)]
                if not frames:
                    continue
                try:
                    self._hand_over(branch.feed(frames))
                    errors_in_row = 0
                except Exception as exc:
                    errors_in_row += 1
                    if self._gives_up(group.name, exc, errors_in_row):
                        break
        except Exception as exc:
            self.report(group.name, "infer", exc)
        finally:
            for m in group.running:  # stopped early: the members still running end here
                m.queue.close()
                self._fuse_queue.put(_End(m.name))
            group.running.clear()

    def _hand_over(self, results: list[ModalityResult]) -> None:
        for result in results:
            self._fuse_queue.put(result)

    def _fuse_loop(self) -> None:
        """Fuser queue -> scheduler -> fuser -> deliver, until every modality has ended."""
        scheduler = self.scheduler
        try:
            while not scheduler.finished:
                item = self._fuse_queue.get(timeout=scheduler.wait_s)
                if item is CLOSED:
                    break
                if isinstance(item, _End):
                    due = scheduler.end(item.modality)
                elif isinstance(item, ModalityResult):
                    due = scheduler.add(item)
                else:  # waited wait_s for nothing: wall-clock triggers may be due
                    due = scheduler.tick()
                for t, chosen in due:
                    self._fuse(t, chosen)
        except Exception as exc:
            self.report("fusion", "schedule", exc)
        finally:
            self.finish()
            self.done.set()

    def _fuse(self, t: float, chosen: dict[str, ModalityResult]) -> None:
        t0 = time.perf_counter()
        try:
            healthy = {n: r for n, r in chosen.items() if r.health is None}
            gate = getattr(self.fuser, "gates_health", False) and healthy
            fused = self.fuser.combine(healthy if gate else chosen)
            if fused is None:  # nothing these results can be fused into
                return
            result = assemble(fused, chosen, t, self.modalities, time.monotonic())
        except Exception as exc:
            self.report("fusion", "fuse", exc)
            return
        self.telemetry.record("fusion", "fuse", (time.perf_counter() - t0) * 1e3)
        self.telemetry.record("fusion", "end_to_end", result.latency_ms)
        self.deliver(result)
