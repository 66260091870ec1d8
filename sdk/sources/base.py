"""What every source yields and the interface it implements.

Timestamps are seconds on the source's own timeline: media time (presentation timestamps) for
files and the synthetic scene, seconds since the source opened (monotonic clock) for live
devices. `arrived` is the time.monotonic() at which mmedge received the item: end-to-end latency
is measured from it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class VideoFrame:
    """One decoded frame: image uint8 (H, W, 3) BGR or (H, W) grey; t_s its presentation time
    and duration_s its frame period, s; index counts frames from 0."""

    image: np.ndarray
    t_s: float
    duration_s: float
    index: int
    arrived: float = field(default_factory=time.monotonic)

    @property
    def t_end_s(self) -> float:
        return self.t_s + self.duration_s


@dataclass
class AudioChunk:
    """A block of mono float32 samples in [-1, 1]; t_s is the time of its first sample, s."""

    samples: np.ndarray
    sample_rate_hz: int
    t_s: float
    index: int
    arrived: float = field(default_factory=time.monotonic)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def t_end_s(self) -> float:
        return self.t_s + self.duration_s


class Source:
    """Base class of cameras, microphones, files and generators.

    kind: 'video' or 'audio'. live: a live source never waits for its reader (a slow reader
    loses the oldest items, counted in stats()['dropped']); a file source hands over every
    item and waits for the reader. read() blocks until an item is ready and returns None at the
    end of the stream; it may raise SourceError. Sources are context managers and iterables.

    Threads: the pipeline reads a source in one thread and may close() it from another while a
    read() is in progress (stop() at any moment). close() must then wait for a decode in
    progress or wake a read() that waits for data, and read() after close() returns None;
    every source in mmedge does so (a decoder is never freed under a running decode).
    """

    kind: str = "video"
    live: bool = False
    name: str = "source"

    def open(self) -> None:
        """Acquires the device or file (read() opens on first use too)."""

    def read(self) -> VideoFrame | AudioChunk | None:
        raise NotImplementedError

    def close(self) -> None:
        """Releases the device or file; idempotent, safe from any thread."""

    def stats(self) -> dict[str, Any]:
        """Counters: items read, dropped, gaps (live sources), reconnects, overflows."""
        return {}

    def __iter__(self) -> Iterator[Any]:
        while (item := self.read()) is not None:
            yield item

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
