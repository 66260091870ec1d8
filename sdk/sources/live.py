"""Live sources: Camera (OpenCV capture with reconnection) and Microphone (sounddevice callback
into a ring). Both stamp items on one clock, live_clock(): seconds since mmedge was imported, on
time.monotonic(), so camera and microphone items are comparable for alignment."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np

from mmedge.errors import SourceError
from mmedge.sources.base import AudioChunk, Source, VideoFrame

_EPOCH = time.monotonic()


def live_clock() -> float:
    """Seconds on the clock every live source stamps its items with."""
    return time.monotonic() - _EPOCH


class Camera(Source):
    """Frames from a camera: an index (0 = /dev/video0), a GStreamer pipeline string (Jetson
    CSI cameras: 'nvarguscamerasrc ! ... ! appsink'), an RTSP/HTTP URL or a file path.

    On a read failure the capture is released and reopened with exponential back-off
    (backoff_s: first and longest wait, s); the time without frames is recorded as a gap in
    stats()['gaps'] and counted in 'reconnects'. max_reconnects: give up (SourceError) after
    that many failed attempts in a row; None retries for ever, as a robot should. read() blocks
    only its own thread: the pipeline gives every source one.
    """

    kind = "video"
    live = True
    GAPS_KEPT = 100  # stats()['gaps'] lists the newest; 'reconnects' counts them all

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        backoff_s: tuple[float, float] = (0.25, 8.0),
        max_reconnects: int | None = None,
        api_preference: int | None = None,
    ) -> None:
        self.device = device
        self.name = f"camera:{device}"
        self.width, self.height, self.fps = width, height, fps
        self.backoff_s = backoff_s
        self.max_reconnects = max_reconnects
        self.api_preference = api_preference
        self._cap: Any = None
        self._cap_lock = threading.Lock()  # a read in progress finishes before close() frees
        self._closed = threading.Event()
        self._index = 0
        self._reconnects = 0
        self._failures_in_row = 0
        self._gaps: collections.deque[dict[str, float]] = collections.deque(maxlen=self.GAPS_KEPT)
        self._gap_start: float | None = None
        self._period = 1.0 / fps if fps else 0.0

    def _connect(self) -> bool:
        try:
            import cv2
        except ImportError as exc:
            raise SourceError("Camera needs OpenCV: pip install 'mmedge[video]'") from exc
        args = (self.device,) if self.api_preference is None else (self.device, self.api_preference)
        cap = cv2.VideoCapture(*args)
        if not cap.isOpened():
            cap.release()
            return False
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
            (cv2.CAP_PROP_FPS, self.fps),
        ):
            if value:
                cap.set(prop, value)
        reported = cap.get(cv2.CAP_PROP_FPS)
        if not self.fps and reported and reported > 0:
            self._period = 1.0 / reported
        self._cap = cap
        return True

    def open(self) -> None:
        self._closed.clear()
        if self._cap is None and not self._connect():
            self._gap_start = live_clock()

    def _release(self) -> None:
        with self._cap_lock:
            cap, self._cap = self._cap, None
            if cap is not None:
                cap.release()

    def _grab(self) -> tuple[bool, Any]:
        with self._cap_lock:
            if self._cap is None or self._closed.is_set():
                return False, None
            return self._cap.read()

    def read(self) -> VideoFrame | None:
        wait = self.backoff_s[0]
        while not self._closed.is_set():
            if self._cap is None:
                if self._connect():
                    self._reconnects += 1 if self._index or self._gaps or self._gap_start else 0
                    continue
                self._failures_in_row += 1
                if self.max_reconnects is not None and self._failures_in_row > self.max_reconnects:
                    raise SourceError(
                        f"{self.name}: no frames after {self.max_reconnects} reconnection attempts"
                    )
                self._closed.wait(wait)
                wait = min(wait * 2, self.backoff_s[1])
                continue
            ok, image = self._grab()
            now = live_clock()
            if self._closed.is_set():
                break
            if ok and image is not None:
                if self._gap_start is not None:
                    self._gaps.append(
                        {"start_s": self._gap_start, "duration_s": now - self._gap_start}
                    )
                    self._gap_start = None
                self._failures_in_row = 0
                frame = VideoFrame(image, now, self._period, self._index)
                self._index += 1
                return frame
            if self._gap_start is None:
                self._gap_start = now
            self._release()
        return None

    def close(self) -> None:
        """Releases the capture; safe from any thread (a read in progress finishes first)."""
        self._closed.set()
        self._release()

    def stats(self) -> dict[str, Any]:
        return {
            "frames": self._index,
            "reconnects": self._reconnects,
            "gaps": list(self._gaps),
            "in_gap": self._gap_start is not None,
            "dropped": 0,
        }


class Microphone(Source):
    """Audio from an input device through sounddevice (PortAudio), mono float32 blocks of
    block_ms at sample_rate_hz.

    The PortAudio callback copies each block into a ring of ring_blocks blocks and returns at
    once; read() takes the oldest. When the reader falls behind, the ring drops the oldest block
    (stats()['dropped']); PortAudio's own overflows (samples the driver lost) are counted in
    stats()['overflows']. sounddevice is imported on open(): the rest of mmedge works where
    PortAudio is missing.
    """

    kind = "audio"
    live = True

    def __init__(
        self,
        sample_rate_hz: int = 16000,
        block_ms: float = 100.0,
        device: int | str | None = None,
        *,
        channels: int = 1,
        ring_blocks: int = 50,
    ) -> None:
        if sample_rate_hz <= 0 or block_ms <= 0 or channels <= 0 or ring_blocks <= 0:
            raise SourceError("sample_rate_hz, block_ms, channels and ring_blocks must be positive")
        self.sample_rate_hz = int(sample_rate_hz)
        self.block = max(1, round(sample_rate_hz * block_ms / 1000))
        self.device = device
        self.channels = channels
        self.name = f"microphone:{device if device is not None else 'default'}"
        self._ring: collections.deque[tuple[np.ndarray, float]] = collections.deque(
            maxlen=ring_blocks
        )
        self._ready = threading.Condition()
        self._stream: Any = None
        self._closed = False
        self._index = 0
        self._dropped = 0
        self._overflows = 0

    def open(self) -> None:
        if self._stream is not None:
            return
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            raise SourceError(
                f"Microphone needs sounddevice and PortAudio ({exc}): pip install "
                "'mmedge[audio]' and apt install libportaudio2"
            ) from exc
        try:
            self._stream = sounddevice.InputStream(
                samplerate=self.sample_rate_hz,
                blocksize=self.block,
                device=self.device,
                channels=self.channels,
                dtype="float32",
                callback=self._callback,
            )
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise SourceError(f"cannot open {self.name}: {exc}") from exc
        self._closed = False

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy, stamp, append; never block."""
        now = live_clock()
        if status is not None and getattr(status, "input_overflow", False):
            self._overflows += 1
        block = np.ascontiguousarray(
            indata.mean(axis=1) if indata.ndim == 2 else indata, dtype=np.float32
        )
        with self._ready:
            if len(self._ring) == self._ring.maxlen:
                self._dropped += 1
            self._ring.append((block, now - len(block) / self.sample_rate_hz))
            self._ready.notify()

    def read(self, timeout_s: float | None = None) -> AudioChunk | None:
        with self._ready:
            if not self._ready.wait_for(lambda: self._ring or self._closed, timeout_s):
                return None
            if not self._ring:
                return None
            block, t = self._ring.popleft()
        chunk = AudioChunk(block, self.sample_rate_hz, t, self._index)
        self._index += 1
        return chunk

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def stats(self) -> dict[str, Any]:
        return {
            "chunks": self._index,
            "dropped": self._dropped,
            "overflows": self._overflows,
            "queued": len(self._ring),
        }
