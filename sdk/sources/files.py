"""Recorded media: VideoFile, AudioFile and MediaFile (a file with both tracks). Every frame and
every sample is handed over (no drops, ever), with media timestamps, so a run over a file is
reproducible. Decoding: PyAV when installed (exact presentation timestamps, any container),
else OpenCV for video and soundfile for audio."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import SourceError
from mmedge.sources.base import AudioChunk, Source, VideoFrame


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"media file not found: {p}")
    return p


class _DecodedFile(Source):
    """A recorded file read through a decoder generator (_decode). Safe across threads: a
    read() holds the lock for its decode, close() takes it before freeing the decoder, and
    read() after close() returns None (Source's thread contract)."""

    live = False

    def __init__(self) -> None:
        self._decoded: Iterator[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _decode(self) -> Iterator[Any]:
        """A fresh generator over the file's items (closing it closes the decoder)."""
        raise NotImplementedError

    def _next_item(self) -> Any:
        """The next item, or None at the end; called under the lock, opened."""
        raise NotImplementedError

    def _ensure_open(self) -> None:
        if self._closed:
            raise SourceError(f"{self.name} is closed")
        if self._decoded is None:
            self._decoded = self._decode()

    def open(self) -> None:
        with self._lock:
            self._ensure_open()

    def read(self) -> Any:
        """The next item; None at the end, or once close() was called (from any thread)."""
        with self._lock:
            if self._closed:
                return None
            self._ensure_open()
            return self._next_item()

    def close(self) -> None:
        """Frees the decoder; safe from any thread at any moment (waits for a read in
        progress). Idempotent; read() returns None afterwards."""
        self._closed = True
        with self._lock:
            decoded, self._decoded = self._decoded, None
            if decoded is not None:
                decoded.close()  # type: ignore[attr-defined]


class VideoFile(_DecodedFile):
    """Frames of a video file, BGR uint8, with presentation timestamps (s).

    decoder: 'auto' (PyAV if installed, else OpenCV), 'pyav' or 'opencv'. loop: start over at
    the end (a looping file behaves like an endless recording; timestamps keep increasing).
    """

    kind = "video"
    live = False

    def __init__(self, path: str | Path, *, decoder: str = "auto", loop: bool = False) -> None:
        self.path = _check_path(path)
        if decoder not in ("auto", "pyav", "opencv"):
            raise SourceError(f"decoder must be auto, pyav or opencv, got {decoder!r}")
        if decoder == "auto":
            decoder = "pyav" if _has("av") else "opencv"
        self.decoder = decoder
        self.loop = loop
        self.name = self.path.name
        super().__init__()
        self._index = 0
        self._offset_s = 0.0
        self._last_end_s = 0.0
        self._decode_ms = 0.0

    def _decode(self) -> Iterator[tuple[np.ndarray, float, float]]:
        return self._pyav() if self.decoder == "pyav" else self._opencv()

    def _pyav(self) -> Iterator[tuple[np.ndarray, float, float]]:
        import av

        try:
            container = av.open(str(self.path))
        except Exception as exc:
            raise SourceError(f"cannot open {self.path}: {exc}") from exc
        with container:  # closed when the frames end or the generator is closed
            if not container.streams.video:
                raise SourceError(f"{self.path} has no video track")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate) if stream.average_rate else 0.0
            period = 1.0 / rate if rate > 0 else 0.0
            for n, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else n * period
                yield frame.to_ndarray(format="bgr24"), t, period

    def _opencv(self) -> Iterator[tuple[np.ndarray, float, float]]:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise SourceError(f"OpenCV cannot open {self.path}")
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            period = 1.0 / fps if fps > 0 else 0.0
            n = 0
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                yield image, n * period, period  # frame index / fps: container PTS via PyAV
                n += 1
        finally:
            cap.release()

    def _next_item(self) -> VideoFrame | None:
        assert self._decoded is not None
        t0 = time.perf_counter()
        try:
            image, t, period = next(self._decoded)
        except StopIteration:
            if not self.loop or self._index == 0:
                return None
            self._offset_s = self._last_end_s
            self._decoded = self._decode()
            image, t, period = next(self._decoded)
        self._decode_ms = (time.perf_counter() - t0) * 1e3
        frame = VideoFrame(image, self._offset_s + t, period, self._index)
        self._last_end_s = frame.t_end_s
        self._index += 1
        return frame

    @property
    def last_decode_ms(self) -> float:
        return self._decode_ms

    def stats(self) -> dict[str, Any]:
        return {"frames": self._index, "dropped": 0, "decoder": self.decoder}


class AudioFile(_DecodedFile):
    """Mono float32 chunks of block_ms of an audio file (wav, flac, ogg via soundfile; any
    container via PyAV, e.g. the audio track of an .mp4), at the file's own rate (the pipeline
    resamples to each model's rate), with t_s = time of the first sample, s."""

    kind = "audio"
    live = False

    def __init__(self, path: str | Path, *, block_ms: float = 100.0, decoder: str = "auto") -> None:
        self.path = _check_path(path)
        if block_ms <= 0:
            raise SourceError(f"block_ms must be positive, got {block_ms}")
        if decoder not in ("auto", "pyav", "soundfile"):
            raise SourceError(f"decoder must be auto, pyav or soundfile, got {decoder!r}")
        if decoder == "auto":
            suffix = self.path.suffix.lower()
            decoder = (
                "soundfile"
                if suffix in (".wav", ".flac", ".ogg") and _has("soundfile")
                else ("pyav" if _has("av") else "soundfile")
            )
        self.decoder = decoder
        self.block_ms = block_ms
        self.name = self.path.name
        self.sample_rate_hz = 0
        super().__init__()
        self._index = 0
        self._samples = 0
        self._start_s = 0.0
        self._decode_ms = 0.0

    def _decode(self) -> Iterator[np.ndarray]:
        return self._pyav() if self.decoder == "pyav" else self._soundfile()

    def _soundfile(self) -> Iterator[np.ndarray]:
        try:
            import soundfile
        except ImportError as exc:
            raise SourceError(
                "reading audio files needs soundfile: pip install 'mmedge[audio]'"
            ) from exc
        try:
            f = soundfile.SoundFile(str(self.path))
        except Exception as exc:
            raise SourceError(f"cannot open {self.path}: {exc}") from exc
        with f:  # closed when the samples end or the generator is closed
            self.sample_rate_hz = int(f.samplerate)
            block = max(1, round(self.sample_rate_hz * self.block_ms / 1000))
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                if len(data) == 0:
                    break
                yield np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)

    def _pyav(self) -> Iterator[np.ndarray]:
        import av

        try:
            container = av.open(str(self.path))
        except Exception as exc:
            raise SourceError(f"cannot open {self.path}: {exc}") from exc
        with container:  # closed when the samples end or the generator is closed
            if not container.streams.audio:
                raise SourceError(f"{self.path} has no audio track")
            stream = container.streams.audio[0]
            self.sample_rate_hz = int(stream.rate)
            to_mono = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate_hz)
            block = max(1, round(self.sample_rate_hz * self.block_ms / 1000))
            pending = np.zeros(0, np.float32)
            first = True
            for frame in container.decode(stream):
                if first:
                    self._start_s = max(0.0, float(frame.time or 0.0))
                    first = False
                for mono in to_mono.resample(frame):
                    pending = np.concatenate([pending, mono.to_ndarray().reshape(-1)])
                    while len(pending) >= block:
                        yield pending[:block].astype(np.float32)
                        pending = pending[block:]
            for mono in to_mono.resample(None):
                pending = np.concatenate([pending, mono.to_ndarray().reshape(-1)])
            while len(pending):
                yield pending[:block].astype(np.float32)
                pending = pending[block:]

    def _next_item(self) -> AudioChunk | None:
        assert self._decoded is not None
        t0 = time.perf_counter()
        try:
            samples = next(self._decoded)
        except StopIteration:
            return None
        self._decode_ms = (time.perf_counter() - t0) * 1e3
        chunk = AudioChunk(
            samples,
            self.sample_rate_hz,
            self._start_s + self._samples / self.sample_rate_hz,
            self._index,
        )
        self._samples += len(samples)
        self._index += 1
        return chunk

    @property
    def last_decode_ms(self) -> float:
        return self._decode_ms

    def stats(self) -> dict[str, Any]:
        return {
            "chunks": self._index,
            "samples": self._samples,
            "dropped": 0,
            "decoder": self.decoder,
        }


class MediaFile:
    """A file with a video and an audio track (.mp4, .mkv, ...): `.video` and `.audio` are
    sources on the same media timeline, read independently (each modality's worker pulls its
    own track; PyAV demuxes)."""

    def __init__(self, path: str | Path, *, block_ms: float = 100.0) -> None:
        if not _has("av"):
            raise SourceError("MediaFile needs PyAV: pip install 'mmedge[video]'")
        self.path = _check_path(path)
        self.video = VideoFile(self.path, decoder="pyav")
        self.audio = AudioFile(self.path, block_ms=block_ms, decoder="pyav")
        self.video.name = f"{self.path.name}:video"
        self.audio.name = f"{self.path.name}:audio"

    def close(self) -> None:
        self.video.close()
        self.audio.close()
