"""When a fused result is due and what it fuses: triggers, watermarks and alignment, with no
threads and no queues. The pipeline's fuser thread feeds a Scheduler each modality's results and
ends (and the clock, while it waits); a test feeds it plain lists.

Alignment (DESIGN.md section 7): at a trigger time T each modality contributes its newest result
whose span ends within max_skew of T, and not after T (1 ms tolerance): a fused result uses only
what existed at its time, so a run over files gives what a live run would; a modality with no
such result is left out and listed as missing.

Triggers: every result of the anchor modality (at its t_end_s), or every 1/rate_hz s. Over
recorded sources a trigger time is fused only once every modality has passed it (its newest
result ends at or after T, or it has ended): the result is then the same every run. Live
sources never wait; a rate trigger then fires every 1/rate_hz s of wall time at the newest
source time seen.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Sequence

from mmedge.pipeline.results import ModalityResult

Due = tuple[float, dict[str, ModalityResult]]
"""A trigger time (s) and, per modality, the result it fuses."""


class Aligner:
    """Recent results per modality; picks, for a trigger time T, each modality's newest result
    ending in [T - max_skew, T]."""

    TOLERANCE_S = 1e-3

    def __init__(self, modalities: Sequence[str], max_skew_s: float) -> None:
        self.max_skew_s = max_skew_s
        self._history: dict[str, collections.deque[ModalityResult]] = {
            m: collections.deque() for m in modalities
        }

    def add(self, result: ModalityResult) -> None:
        self._history[result.modality].append(result)

    def prune(self, t_s: float) -> None:
        """Forgets results no trigger at or after t_s can pick (ending before t_s - max_skew),
        keeping each modality's newest. A fast modality may run far ahead of a slow one over a
        file: its results stay until the slow one's triggers have used them."""
        horizon = t_s - self.max_skew_s - self.TOLERANCE_S
        for results in self._history.values():
            while len(results) > 1 and results[0].t_end_s < horizon:
                results.popleft()

    def select(self, t_s: float) -> dict[str, ModalityResult]:
        chosen = {}
        for name, results in self._history.items():
            fitting = [
                r
                for r in results
                if t_s - self.max_skew_s - self.TOLERANCE_S <= r.t_end_s <= t_s + self.TOLERANCE_S
            ]
            if fitting:
                chosen[name] = max(fitting, key=lambda r: r.t_end_s)
        return chosen

    def held(self) -> int:
        """Results currently kept (all modalities)."""
        return sum(len(r) for r in self._history.values())


class Scheduler:
    """Decides which trigger times are due. add()/end()/tick() return the due (T, chosen)
    pairs in trigger order; `finished` turns True once every modality has ended and every
    pending trigger was returned.

    modalities: names, in the order results list them. trigger: the anchor modality, or
    rate_hz: a trigger every 1/rate_hz s. live: any source is live (never wait for the slowest
    modality). clock: seconds, monotonic (wall-clock rate triggers of live runs).
    """

    def __init__(
        self,
        modalities: Sequence[str],
        *,
        trigger: str | None,
        rate_hz: float | None,
        max_skew_s: float,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (trigger is None) == (rate_hz is None):
            raise ValueError("give exactly one of trigger and rate_hz")
        self.names = list(modalities)
        self.trigger, self.rate_hz, self.live = trigger, rate_hz, live
        self.max_skew_s = max_skew_s
        self.aligner = Aligner(self.names, max_skew_s)
        self._clock = clock
        self._watermark = {n: -math.inf for n in self.names}  # newest t_end; inf once ended
        self._ended: set[str] = set()
        self._pending: collections.deque[float] = collections.deque()
        self._next_tick = 0.0
        self._last_wall_tick = clock()
        self._newest_end = -math.inf
        self.finished = False

    @property
    def wait_s(self) -> float | None:
        """How long the fuser may block waiting for a result before tick() is due (None:
        indefinitely)."""
        return 0.5 / self.rate_hz if (self.rate_hz and self.live) else None

    def add(self, result: ModalityResult) -> list[Due]:
        self.aligner.add(result)
        name = result.modality
        self._watermark[name] = max(self._watermark[name], result.t_end_s)
        self._newest_end = max(self._newest_end, result.t_end_s)
        if self.trigger == name:
            self._pending.append(result.t_end_s)
        return self._advance()

    def end(self, modality: str) -> list[Due]:
        """`modality` will send nothing more."""
        self._ended.add(modality)
        self._watermark[modality] = math.inf
        return self._advance()

    def tick(self) -> list[Due]:
        """Nothing arrived for wait_s: lets wall-clock triggers fire."""
        return self._advance()

    def _schedule_rate_triggers(self) -> None:
        if not self.rate_hz:
            return
        period = 1.0 / self.rate_hz
        if self.live:  # every period of wall time, at the newest source time
            now = self._clock()
            if now - self._last_wall_tick >= period and self._newest_end > -math.inf:
                self._last_wall_tick = now
                self._pending.append(self._newest_end)
            return
        horizon = min(min(self._watermark.values()), self._newest_end)
        while self._next_tick <= horizon:  # source time, up to where every modality has been
            self._pending.append(self._next_tick)
            self._next_tick += period

    def _advance(self) -> list[Due]:
        if self.finished:
            return []
        self._schedule_rate_triggers()
        due: list[Due] = []
        while self._pending and (
            self.live or all(self._watermark[n] >= self._pending[0] for n in self.names)
        ):
            t = self._pending.popleft()
            due.append((t, self.aligner.select(t)))
        if self._pending:
            self.aligner.prune(self._pending[0])
        elif not self.live:
            self.aligner.prune(min(min(self._watermark.values()), self._newest_end))
        else:  # an anchor's next result may end a little before the newest one
            self.aligner.prune(self._newest_end - max(1.0, 4 * self.max_skew_s))
        if len(self._ended) == len(self.names):
            while self._pending:
                t = self._pending.popleft()
                due.append((t, self.aligner.select(t)))
            self.finished = True
        return due
