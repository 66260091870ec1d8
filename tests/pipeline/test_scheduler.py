"""The scheduler on plain lists of timestamped results (no threads, no queues): which trigger
times are due when, what each one fuses, causality, waiting for the slowest recorded modality,
never waiting over live sources, wall-clock rate triggers, bounded memory."""

from __future__ import annotations

import pytest

from mmedge.pipeline.results import ModalityResult
from mmedge.pipeline.scheduler import Aligner, Scheduler


def r(modality: str, t0: float, t1: float) -> ModalityResult:
    return ModalityResult(modality, t0, t1)


def times(due: list) -> list[float]:
    return [t for t, _ in due]


def ends(chosen: dict[str, ModalityResult]) -> dict[str, float]:
    return {m: res.t_end_s for m, res in chosen.items()}


def test_alignment_is_causal_and_bounded() -> None:
    aligner = Aligner(["a", "b"], max_skew_s=0.3)
    for t in (0.1, 0.4, 0.7, 1.0):
        aligner.add(ModalityResult("a", t - 0.1, t))
    aligner.add(ModalityResult("b", 0.0, 0.2))
    chosen = aligner.select(0.75)
    assert chosen["a"].t_end_s == 0.7  # newest ending by the trigger, not the one at 1.0
    assert "b" not in chosen  # ended 0.55 s before: staler than max_skew
    assert aligner.select(0.45)["b"].t_end_s == 0.2


def test_anchor_trigger_waits_for_every_recorded_modality() -> None:
    s = Scheduler(["a", "b"], trigger="a", rate_hz=None, max_skew_s=0.3, live=False)
    assert s.add(r("b", 0.5, 0.8)) == []  # not the anchor
    assert s.add(r("a", 0.9, 1.0)) == []  # b has only reached 0.8: it may still say something
    due = s.add(r("b", 1.0, 1.3))  # now b is past 1.0
    assert times(due) == [1.0]
    assert ends(due[0][1]) == {"a": 1.0, "b": 0.8}  # b's result ending at 1.3 is in the future


def test_an_ended_modality_no_longer_holds_triggers_back() -> None:
    s = Scheduler(["a", "b"], trigger="a", rate_hz=None, max_skew_s=0.3, live=False)
    assert s.add(r("a", 0.0, 0.5)) == []
    due = s.end("b")
    assert times(due) == [0.5] and ends(due[0][1]) == {"a": 0.5}
    assert not s.finished
    assert s.end("a") == [] and s.finished


def test_rate_triggers_follow_source_time_up_to_the_slowest_modality() -> None:
    s = Scheduler(["a", "b"], trigger=None, rate_hz=2.0, max_skew_s=0.5, live=False)
    assert times(s.add(r("a", 0.0, 0.4))) == []  # b has said nothing yet
    assert times(s.add(r("b", 0.0, 0.6))) == [0.0]  # ticks up to min(0.4, 0.6)
    assert times(s.add(r("a", 0.4, 1.1))) == [0.5]  # now up to 0.6
    due = s.add(r("b", 0.6, 1.2))
    assert times(due) == [1.0]
    assert ends(due[0][1]) == {"b": 0.6}  # a's window ends at 1.1: after the tick
    assert times(s.end("a")) == []  # b is at 1.2: the tick at 1.5 waits
    assert times(s.end("b")) == []  # no tick after the newest source time (1.2)
    assert s.finished


def test_pending_triggers_are_flushed_when_everything_ended() -> None:
    s = Scheduler(["a", "b"], trigger="a", rate_hz=None, max_skew_s=1.0, live=False)
    for t in (0.2, 0.4, 0.6):
        assert s.add(r("a", t - 0.2, t)) == []  # b is silent: all wait
    due = s.end("a") + s.end("b")
    assert times(due) == [0.2, 0.4, 0.6]
    assert s.finished and s.add(r("a", 1.0, 1.2)) == []


def test_live_sources_never_wait() -> None:
    s = Scheduler(["a", "b"], trigger="a", rate_hz=None, max_skew_s=0.3, live=True)
    due = s.add(r("a", 0.0, 0.1))
    assert times(due) == [0.1] and ends(due[0][1]) == {"a": 0.1}


def test_live_rate_triggers_follow_the_wall_clock() -> None:
    now = [100.0]
    s = Scheduler(["a"], trigger=None, rate_hz=2.0, max_skew_s=0.3, live=True, clock=lambda: now[0])
    assert s.wait_s == pytest.approx(0.25)
    assert s.add(r("a", 5.0, 5.1)) == []  # 0 s of wall time since the start
    now[0] += 0.3
    assert s.tick() == []  # not yet 0.5 s
    now[0] += 0.3
    due = s.tick()  # 0.6 s: one trigger at the newest source time seen
    assert times(due) == [5.1] and ends(due[0][1]) == {"a": 5.1}
    assert s.tick() == []


def test_memory_stays_bounded_over_a_long_live_run() -> None:
    s = Scheduler(["fast", "slow"], trigger="slow", rate_hz=None, max_skew_s=0.2, live=True)
    for i in range(5000):
        s.add(r("fast", i * 0.01, i * 0.01 + 0.01))
        if i % 50 == 0:
            s.add(r("slow", i * 0.01, i * 0.01 + 0.5))
    assert s.aligner.held() < 200  # ~1 s of the fast modality's results, not 5000


def test_recorded_runs_keep_a_fast_modalitys_results_for_a_slow_ones_triggers() -> None:
    s = Scheduler(["fast", "slow"], trigger="slow", rate_hz=None, max_skew_s=0.05, live=False)
    for i in range(100):  # the fast modality runs 1 s ahead
        assert s.add(r("fast", i * 0.01, i * 0.01 + 0.01)) == []
    due = s.add(r("slow", 0.0, 0.5))
    assert times(due) == [0.5] and ends(due[0][1]) == pytest.approx({"fast": 0.5, "slow": 0.5})


def test_exactly_one_trigger_kind() -> None:
    with pytest.raises(ValueError, match="exactly one of trigger and rate_hz"):
        Scheduler(["a"], trigger="a", rate_hz=1.0, max_skew_s=0.1, live=False)
    with pytest.raises(ValueError, match="exactly one of trigger and rate_hz"):
        Scheduler(["a"], trigger=None, rate_hz=None, max_skew_s=0.1, live=False)
