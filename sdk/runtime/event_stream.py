"""`EventStream`: an audio event detector on a live signal. Chunks of samples of any size go in
(a microphone's blocks); the events that became final come out, with the same onsets, offsets
and classes as Model.predict on the whole recording.

How: the samples are resampled to the model's rate (streaming, as resample()), turned into
log-mel or MFCC rows by LogMelStream / MfccStream (frame for frame the batch call's), and the
network runs on windows of those rows every `hop_s`: each window reaches the head's declared
`context_s` before and after the frames it keeps, so a kept frame's score is the whole
recording's (a window at the stream's start or end sees the same zero padding as the whole
recording does). The scores go through the head's EventTracker (median filter, hysteresis, gap
joining, minimum duration).

Added latency (latency_s, an upper bound): an event is reported at most
    frame_s + context_s + the feature window's centre (n_fft / 2 samples) + hop_s + head.latency_s
after its true end, on top of the time the caller takes to deliver the samples. Memory is
bounded: the rows kept are the window's context, not the stream's history.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess.audio import LogMelStream, MfccStream, Resampler, as_samples, lay_out
from mmedge.preprocess.audio_spec import AudioSpec
from mmedge.tasks.event_head import EventHead, EventTracker
from mmedge.tasks.events import AudioEvents

if TYPE_CHECKING:
    from mmedge.runtime.model import Model


class EventStream:
    """Events of a live signal by an audio_events bundle (see the module docstring).

    model: a Model of a single-input audio bundle with one audio_events head that declares
        context_s, over an AudioSpec without top_db, db_ref_max or subtract_mean (a stream has
        not seen the whole signal) and without an analysis window.
    sample_rate: Hz of the samples pushed (resampled to the model's rate).
    hop_s: how often the network runs (s of signal); shorter: lower latency, more windows.
    """

    def __init__(self, model: Model, sample_rate: int, *, hop_s: float = 0.1) -> None:
        heads, spec = model.heads, model.spec
        if len(heads) != 1 or not isinstance(heads[0], EventHead):
            raise PreprocessError(
                f"{model.bundle.name!r}: EventStream takes a bundle with one audio_events head"
            )
        if not isinstance(spec, AudioSpec) or len(model.inputs) != 1:
            raise PreprocessError(f"{model.bundle.name!r}: EventStream takes one audio input")
        head: EventHead = heads[0]
        if head.context_s is None:
            raise PreprocessError(
                f"{model.bundle.name!r}: its EventHead does not declare context_s (the network's "
                "reach on each side of a frame), so windows of a stream cannot give the whole "
                "recording's scores; re-export with EventHead(context_s=...)"
            )
        if spec.analysis_samples is not None:
            raise PreprocessError(
                f"{model.bundle.name!r}: its spec pads or trims to {spec.analysis_seconds} s "
                "(analysis_seconds): a clip classifier, not a frame-wise detector"
            )
        row_s = spec.hop_length / spec.sample_rate_hz
        stride = head.frame_s / row_s
        if abs(stride - round(stride)) > 1e-6 or round(stride) < 1:
            raise PreprocessError(
                f"{model.bundle.name!r}: an output frame of {head.frame_s} s is not a whole "
                f"number of feature rows of {row_s} s"
            )
        if not hop_s > 0:
            raise PreprocessError(f"hop_s must be > 0 s, got {hop_s}")
        self.model, self.head, self.spec = model, head, spec
        self.sample_rate = int(sample_rate)
        self.hop_s = float(hop_s)
        self._stride = round(stride)
        # context in feature rows, a whole number of output frames (windows start on the grid)
        frames = math.ceil(head.context_s / head.frame_s - 1e-9)
        self._context = frames * self._stride
        self._hop = max(1, math.ceil(hop_s / head.frame_s - 1e-9))
        self._labels = head.labels_or(model.labels)
        feature = MfccStream if spec.feature == "mfcc" else LogMelStream
        self._features = feature(spec)  # refuses top_db, db_ref_max, subtract_mean by name
        self._start()

    def _start(self) -> None:
        """A new signal: nothing pushed yet."""
        self._tracker = EventTracker(self.head, self._labels)
        self._resampler = (
            Resampler(self.sample_rate, self.spec.sample_rate_hz)
            if self.sample_rate != self.spec.sample_rate_hz
            else None
        )
        self._rows = np.zeros((0, 0), np.float32)
        self._first_row = 0  # stream index of self._rows[0]
        self._rows_seen = 0
        self._next = 0  # next output frame to score
        self._samples_in = 0
        self.windows = 0  # network runs so far

    @property
    def latency_s(self) -> float:
        """Upper bound (s) on how long after its true end an event is reported."""
        centre = (self.spec.n_fft // 2) / self.spec.sample_rate_hz
        return (
            self.head.frame_s
            + self._context * self.spec.hop_length / self.spec.sample_rate_hz
            + centre
            + self._hop * self.head.frame_s
            + self.head.latency_s
        )

    @property
    def buffered_rows(self) -> int:
        """Feature rows held for the next windows (bounded by the context and the hop)."""
        return len(self._rows)

    @property
    def position_s(self) -> float:
        """Seconds of signal pushed so far."""
        return self._samples_in / self.sample_rate

    def push(self, chunk: Any) -> AudioEvents:
        """Appends samples (mono float32 at sample_rate); returns the events that became final."""
        x = as_samples(chunk, "chunk")
        self._samples_in += len(x)
        if self._resampler is not None:
            x = self._resampler.push(x)
        self._add(self._features.push(x))
        scores = self._score(final=False)
        return self._tracker.push(scores) if len(scores) else AudioEvents.empty()

    def flush(self) -> AudioEvents:
        """Ends the signal: the last frames are scored (the window reaching the end, padded as
        the whole recording is), events still on end here (open_ended); the stream can start
        over."""
        tail = self._resampler.flush() if self._resampler is not None else np.zeros(0, np.float32)
        rows = self._features.push(tail) if len(tail) else np.zeros((0, 0), np.float32)
        self._add(rows)
        self._add(self._features.flush())
        scores = self._score(final=True)
        found = AudioEvents.concat(
            [self._tracker.push(scores) if len(scores) else AudioEvents.empty(),
             self._tracker.flush()]
        )  # fmt: skip
        self._start()  # the feature stream starts over after its flush
        return found

    def _add(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        self._rows = rows if self._rows.size == 0 else np.concatenate([self._rows, rows])
        self._rows_seen += len(rows)

    def _score(self, final: bool) -> np.ndarray:
        """Scores of the output frames whose windows are complete (all of them when final)."""
        s, c = self._stride, self._context
        if final:  # every frame left: the window reaches the end, as the whole recording does
            end, last = self._rows_seen, None
        else:
            last = (self._rows_seen - c) // s  # frames whose right context has arrived
            if last - self._next < self._hop:
                return np.zeros((0, 0), np.float32)
            end = last * s + c
        start = max(0, self._next * s - c)
        if end <= start or end <= self._next * s:
            return np.zeros((0, 0), np.float32)
        window = self._rows[start - self._first_row : end - self._first_row]
        feeds = {self.model.input_name: lay_out(np.ascontiguousarray(window), self.spec)}
        name = self.head.output or self.model.outputs[0].name
        out = self.model.backend.infer(feeds)[name][0]
        self.windows += 1
        keep = out[self._next - start // s : None if last is None else last - start // s]
        self._next += len(keep)
        drop = max(0, self._next * s - c) - self._first_row  # rows no window needs again
        self._rows, self._first_row = self._rows[drop:], self._first_row + drop
        return np.asarray(keep, np.float32)
