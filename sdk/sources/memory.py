"""Sources over data already in memory: a sequence of still images shown one after another, and
an audio track held as an array. File-like by default (nothing dropped, as fast as read);
realtime=True paces them by the wall clock like a camera and a microphone. Timestamps follow
the given frame period and sample rate."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmedge.errors import SourceError
from mmedge.sources.base import AudioChunk, Source, VideoFrame


class _Pacer:
    """realtime: wait until an item's media time has passed on the wall clock (the source then
    behaves like a live device: live=True, drop-oldest queues)."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self.t0: float | None = None

    def wait_until(self, media_s: float) -> None:
        if not self.realtime:
            return
        self.t0 = self.t0 if self.t0 is not None else time.monotonic()
        time.sleep(max(0.0, self.t0 + media_s - time.monotonic()))


class ImageSequence(Source):
    """Images (uint8 HxW or HxWxC) shown for period_s seconds each, starting at start_s:
    frame k spans [start_s + k * period_s, start_s + (k + 1) * period_s)."""

    kind = "video"

    def __init__(
        self,
        images: Sequence[np.ndarray],
        period_s: float,
        *,
        start_s: float = 0.0,
        name: str = "images",
        realtime: bool = False,
    ) -> None:
        if period_s <= 0:
            raise SourceError(f"period_s must be positive, got {period_s}")
        self.images, self.period_s, self.start_s, self.name = images, period_s, start_s, name
        self.live = realtime
        self._pacer = _Pacer(realtime)
        self._index = 0

    def read(self) -> VideoFrame | None:
        if self._index >= len(self.images):
            return None
        k = self._index
        self._pacer.wait_until(k * self.period_s)
        self._index += 1
        return VideoFrame(
            np.asarray(self.images[k]), self.start_s + k * self.period_s, self.period_s, k
        )

    def stats(self) -> dict[str, Any]:
        return {"frames": self._index, "dropped": 0}


class AudioArray(Source):
    """A mono float32 track at sample_rate_hz, handed out in blocks of block_ms."""

    kind = "audio"

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate_hz: int,
        *,
        block_ms: float = 100.0,
        start_s: float = 0.0,
        name: str = "audio",
        realtime: bool = False,
    ) -> None:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise SourceError(f"samples must be 1-D (mono), got shape {x.shape}")
        if sample_rate_hz <= 0 or block_ms <= 0:
            raise SourceError("sample_rate_hz and block_ms must be positive")
        self.samples, self.sample_rate_hz = x, int(sample_rate_hz)
        self.start_s, self.name = start_s, name
        self.block = max(1, round(sample_rate_hz * block_ms / 1000))
        self.live = realtime
        self._pacer = _Pacer(realtime)
        self._index = 0

    def read(self) -> AudioChunk | None:
        start = self._index * self.block
        if start >= len(self.samples):
            return None
        end = min(start + self.block, len(self.samples))
        self._pacer.wait_until(end / self.sample_rate_hz)  # a block exists once recorded
        chunk = AudioChunk(
            self.samples[start:end],
            self.sample_rate_hz,
            self.start_s + start / self.sample_rate_hz,
            self._index,
        )
        self._index += 1
        return chunk

    def stats(self) -> dict[str, Any]:
        return {"chunks": self._index, "dropped": 0}
