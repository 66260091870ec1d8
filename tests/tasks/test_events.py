"""Audio event decoding (mmedge.tasks.EventHead, EventTracker) against an independent
reference of its definition: scipy's median filter (edges repeated) along time, then plain
per-class loops for the hysteresis, the gap joining and the minimum duration. The streaming
tracker gives the batch events for any chunking; bad heads are refused when built."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedge.errors import PostprocessError
from mmedge.tasks.event_head import EventHead, EventTracker
from mmedge.tasks.events import AudioEvents

ndimage = pytest.importorskip("scipy.ndimage")


def reference(p: np.ndarray, h: EventHead) -> list[tuple[float, float, int, bool]]:
    """(onset s, offset s, class, open_ended) by the module docstring's four steps."""
    smooth = ndimage.median_filter(p, size=(h.median_frames, 1), mode="nearest")
    events = []
    for c in range(p.shape[1]):
        if c in h.ignore_classes:
            continue
        found, on, start = [], False, 0
        for t, v in enumerate(smooth[:, c]):
            if on and v < h.offset_threshold:
                found.append([start, t, False])
                on = False
            if not on and v >= h.onset_threshold:
                on, start = True, t
        if on:
            found.append([start, len(p), True])
        joined: list[list] = []
        for e in found:
            if joined and (e[0] - joined[-1][1]) * h.frame_s < h.min_gap_s:
                joined[-1][1], joined[-1][2] = e[1], e[2]
            else:
                joined.append(e)
        for s, e, open_ended in joined:
            if (e - s) * h.frame_s >= h.min_duration_s:
                events.append((s * h.frame_s, e * h.frame_s, c, open_ended))
    return sorted(events, key=lambda e: (e[0], e[2]))


def as_tuples(ev: AudioEvents) -> list[tuple[float, float, int, bool]]:
    return [
        (float(a), float(b), int(c), bool(o))
        for a, b, c, o in zip(ev.onsets_s, ev.offsets_s, ev.class_ids, ev.open_ended, strict=True)
    ]


def posteriors(seed: int, frames: int, classes: int) -> np.ndarray:
    """Bursty posteriors: events of random lengths with noise, some near the thresholds."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.35, (frames, classes))
    for _ in range(frames // 6):
        c, s = rng.integers(classes), rng.integers(frames)
        p[s : s + rng.integers(1, 15), c] = rng.uniform(0.3, 1.0)
    return p


heads = st.builds(
    EventHead,
    frame_s=st.sampled_from([0.02, 0.032, 0.1]),
    activation=st.just("none"),
    onset_threshold=st.sampled_from([0.5, 0.6, 0.8]),
    offset_threshold=st.sampled_from([0.3, 0.5]),
    median_frames=st.sampled_from([1, 3, 5, 9]),
    min_duration_s=st.sampled_from([0.0, 0.05, 0.2]),
    min_gap_s=st.sampled_from([0.0, 0.05, 0.3]),
    ignore_classes=st.sampled_from([(), (0,)]),
)


@settings(max_examples=150, deadline=None)
@given(head=heads, seed=st.integers(0, 10_000), frames=st.integers(1, 200))
def test_decode_is_the_definition(head: EventHead, seed: int, frames: int) -> None:
    p = posteriors(seed, frames, 4)
    got = head.decode(p, ["a", "b", "c", "d"])
    expected = reference(p, head)
    assert [e[2:] for e in as_tuples(got)] == [e[2:] for e in expected]
    times = np.array([e[:2] for e in as_tuples(got)]).reshape(-1, 2)
    np.testing.assert_allclose(times, np.array([e[:2] for e in expected]).reshape(-1, 2), atol=1e-9)
    assert list(got.labels) == ["abcd"[c] for c in got.class_ids]


@settings(max_examples=100, deadline=None)
@given(head=heads, seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 150), max_size=8))
def test_streaming_gives_the_batch_events_for_any_chunking(
    head: EventHead, seed: int, cuts: list[int]
) -> None:
    p = posteriors(seed, 150, 3)
    tracker = EventTracker(head, ["a", "b", "c"], start_s=10.0)
    edges = [0, *sorted(cuts), 150]
    parts = [tracker.push(p[a:b]) for a, b in itertools.pairwise(edges)]
    streamed = AudioEvents.concat([*parts, tracker.flush()])
    batch = head.decode(p, ["a", "b", "c"], start_s=10.0)
    assert as_tuples(streamed) == as_tuples(batch)
    np.testing.assert_array_equal(streamed.scores, batch.scores)


def test_an_event_is_final_within_the_stated_latency() -> None:
    """An event that ends at frame e is returned by the push that brings frame
    e + median_frames // 2 + the gap's frames, not later."""
    head = EventHead(frame_s=0.1, activation="none", median_frames=5, min_gap_s=0.3)
    p = np.zeros((60, 1))
    p[10:20] = 0.9
    tracker = EventTracker(head, ["x"])
    for t in range(60):
        if len(tracker.push(p[t : t + 1])):
            break
    assert t * head.frame_s <= 2.0 + head.latency_s + 1e-9, t


def test_softmax_and_sigmoid_activations() -> None:
    logits = np.full((20, 3), -4.0)
    logits[:, 0] = 4.0  # background, except while the dog barks
    logits[5:12, 1] = 8.0
    sig = EventHead(frame_s=0.05, ignore_classes=(0,)).decode(logits, ["bg", "dog", "car"])
    soft = EventHead(frame_s=0.05, activation="softmax", ignore_classes=(0,)).decode(
        logits, ["bg", "dog", "car"]
    )
    assert as_tuples(sig) == as_tuples(soft) == [(0.25, 0.6000000000000001, 1, False)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frame_s": 0.0}, "frame_s must be > 0"),
        ({"onset_threshold": 0.3, "offset_threshold": 0.5}, "0 < offset_threshold <= onset"),
        ({"onset_threshold": 1.0}, "0 < offset_threshold <= onset"),
        ({"median_frames": 4}, "odd int >= 1"),
        ({"min_gap_s": -1.0}, "must be >= 0 s"),
        ({"activation": "relu"}, "activation must be one of"),
    ],
)
def test_bad_heads_are_refused_when_built(fields: dict, message: str) -> None:
    with pytest.raises(PostprocessError, match=message):
        EventHead(**{"frame_s": 0.1, **fields})
    with pytest.raises(PostprocessError, match="does not know the keys"):
        EventHead.from_dict({"frame_s": 0.1, "treshold": 0.5})
