"""EventStream: the built-in sound event detector (digit_events, its EventHead declaring the
network's context) on a live signal. Real recordings (spoken digits of a speaker training never
heard, in real background sound) pushed in chunks of random sizes give the events
Model.predict gives on the whole recording, at the recording's rate or resampled; every event
is reported within the stream's stated latency of its end; the rows kept stay bounded on a long
stream; a bundle that cannot stream is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bundle_edits import edited_copy

import mmedge
from mmedge.errors import PreprocessError
from mmedge.export.recipes.sound_events import make_event_split
from mmedge.preprocess import resample
from mmedge.runtime.event_stream import EventStream
from mmedge.tasks import AudioEvents

BUNDLE = mmedge.builtin_bundle("digit_events")


@pytest.fixture(scope="module")
def clips(data_dir: Path):
    return make_event_split("eval", 10, seed=11, root=data_dir)


@pytest.fixture(scope="module")
def model():
    with mmedge.Model(BUNDLE, precision="fp32", backend="ort") as m:
        yield m


def _stream(stream: EventStream, x: np.ndarray, rng: np.random.Generator):
    """Pushes x in random chunks (1 to 3000 samples); the events and, for each, when the
    stream could have given it: the start of the chunk it came out of (s) (a chunk's samples
    arrive together, so the wait for them is the caller's, not the stream's)."""
    found, at, i = [], [], 0
    while i < len(x):
        n = int(rng.integers(1, 3000))
        events = stream.push(x[i : i + n])
        found.append(events)
        at += [(i / stream.sample_rate, stream.position_s)] * len(events)
        i += n
    last = stream.flush()
    found.append(last)
    at += [(len(x) / stream.sample_rate,) * 2] * len(last)  # the end: whatever is still on
    return AudioEvents.concat(found), at


def _same(a: AudioEvents, b: AudioEvents) -> None:
    assert a.class_ids.tolist() == b.class_ids.tolist() and a.labels == b.labels
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)  # windows vs one run: float noise
    np.testing.assert_allclose(a.onsets_s, b.onsets_s, atol=1e-9)
    np.testing.assert_allclose(a.offsets_s, b.offsets_s, atol=1e-9)
    assert a.open_ended.tolist() == b.open_ended.tolist()


def test_chunks_give_the_whole_recordings_events_within_the_latency(clips, model) -> None:
    rng = np.random.default_rng(0)
    stream = EventStream(model, sample_rate=clips.sample_rates[0], hop_s=0.1)
    head = model.heads[0]
    assert head.context_s == pytest.approx(0.63)  # TinySED's reach: 63 rows of 10 ms
    assert stream.latency_s == pytest.approx(0.02 + 0.64 + 0.016 + 0.1 + head.latency_s)
    delays, total = [], 0
    for x, rate in zip(clips.samples, clips.sample_rates, strict=True):
        whole = model.predict(x, sample_rate=rate)
        streamed, at = _stream(stream, x, rng)
        _same(streamed, whole)
        total += len(whole)
        for (start, end), off in zip(at, streamed.offsets_s, strict=True):
            assert end >= off + head.context_s  # not before the network could see past it
            delays.append(start - off)
    assert total >= 20
    assert max(delays) <= stream.latency_s, (max(delays), stream.latency_s)


def test_a_signal_at_another_rate_is_resampled_as_the_whole_recording_is(clips, model) -> None:
    x = resample(clips.samples[0], clips.sample_rates[0], 16000)
    stream = EventStream(model, sample_rate=16000)
    streamed, _ = _stream(stream, x, np.random.default_rng(1))
    _same(streamed, model.predict(x, sample_rate=16000))
    assert len(streamed) >= 2


def test_a_long_stream_keeps_a_bounded_window(clips, model) -> None:
    stream = EventStream(model, sample_rate=clips.sample_rates[0], hop_s=0.2)
    most = 0
    for x in clips.samples:  # one 60 s signal
        for i in range(0, len(x), 800):
            stream.push(x[i : i + 800])
            most = max(most, stream.buffered_rows)
    assert stream.windows >= 250
    assert most <= 2 * 64 + 2 * 20 + 2, most  # context on both sides + a hop + a chunk
    stream.flush()
    assert stream.position_s == 0.0  # starts over


def test_bundles_that_cannot_stream_are_refused_with_the_reason(tmp_path: Path) -> None:
    def undeclared(m):
        m["heads"][0].pop("context_s")

    def top_db(m):
        next(iter(m["preprocess"].values()))["top_db"] = 80.0

    for edit, message in ((undeclared, "does not declare context_s"), (top_db, "top_db")):
        with (
            mmedge.Model(edited_copy(BUNDLE, tmp_path, edit)) as m,
            pytest.raises(PreprocessError, match=message),
        ):
            EventStream(m, sample_rate=8000)
    with (
        mmedge.Model(mmedge.builtin_bundle("mnist_cnn")) as m,
        pytest.raises(PreprocessError, match="one audio_events head"),
    ):
        EventStream(m, sample_rate=8000)
