"""SyntheticScene: matching video and audio with known ground truth, NumPy only.

The scene is a sequence of segments (1.5-3 s each). In a segment one object class is present:
  circle    a disc moving left-right,   a steady tone (500-700 Hz) with vibrato
  square    a square moving up-down,    a buzz (harmonics of 150-250 Hz)
  triangle  a triangle circling,        chirps sweeping 1-3 kHz four times a second
Each cue alone is ambiguous at times (the shapes are small, noisy and change colour; the sounds
sit in noise), so a model per modality makes mistakes that fusion can correct. The same
functions render training data for the built-in demo bundles (scripts/build_bundles.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmedge.sources.base import AudioChunk, Source, VideoFrame
from mmedge.sources.degradations import NOISE_STD, Degradation, active

LABELS = ("circle", "square", "triangle")
PITCH_HZ = {"circle": (500.0, 700.0), "square": (150.0, 250.0), "triangle": (1000.0, 1500.0)}


@dataclass(frozen=True)
class Segment:
    label: str
    t_start_s: float
    t_end_s: float
    seed: int


def _shape_mask(
    label: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float
) -> np.ndarray:
    if label == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if label == "square":
        s = 0.85 * r
        return (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    top, base = cy - r, cy + 0.8 * r
    inside = (yy >= top) & (yy <= base)
    half_width = (yy - top) / (base - top) * r
    return inside & (np.abs(xx - cx) <= half_width)


def object_position(
    label: str, t_s: float, phase: float, width: int, height: int
) -> tuple[float, float]:
    """Centre (px) of the class's object at time t: its motion is the video model's cue."""
    cx, cy, amp = width / 2, height / 2, 0.28 * min(width, height)
    w = 2 * np.pi * 0.7
    if label == "circle":
        return cx + amp * np.sin(w * t_s + phase), cy + 0.15 * amp * np.sin(phase)
    if label == "square":
        return cx + 0.15 * amp * np.sin(phase), cy + amp * np.sin(w * t_s + phase)
    return cx + amp * np.cos(w * t_s + phase), cy + amp * np.sin(w * t_s + phase)


def render_frame(
    label: str,
    t_s: float,
    rng: np.random.Generator,
    *,
    width: int = 96,
    height: int = 96,
    phase: float = 0.0,
    colour: tuple[int, int, int] | None = None,
    noise: float = 18.0,
    clutter: int = 3,
) -> np.ndarray:
    """One BGR uint8 frame (height, width, 3) showing `label` at time t_s, with sensor noise
    (std, grey levels) and `clutter` random small blobs."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = rng.normal(40.0, noise, (height, width, 3)).astype(np.float32)
    for _ in range(clutter):
        bx, by = rng.uniform(0, width), rng.uniform(0, height)
        blob = (xx - bx) ** 2 + (yy - by) ** 2 <= rng.uniform(2, 5) ** 2
        frame[blob] += rng.uniform(30, 120, 3)
    cx, cy = object_position(label, t_s, phase, width, height)
    r = 0.13 * min(width, height)
    mask = _shape_mask(label, xx, yy, cx, cy, r)
    paint = np.asarray(colour if colour is not None else rng.uniform(90, 255, 3), np.float32)
    frame[mask] = 0.35 * frame[mask] + 0.65 * paint
    return np.clip(frame, 0, 255).astype(np.uint8)


def render_audio(
    label: str,
    t_s: float,
    n: int,
    rate: int,
    rng: np.random.Generator,
    *,
    pitch: float | None = None,
    noise: float = 0.05,
) -> np.ndarray:
    """n float32 samples of `label`'s sound starting at time t_s (s), in white noise of std
    `noise`. pitch: the class's base frequency (Hz; default drawn at random)."""
    t = t_s + np.arange(n) / rate
    f = pitch or float(rng.uniform(*PITCH_HZ[label]))
    if label == "circle":
        x = 0.3 * np.sin(2 * np.pi * f * t + 3.0 * np.sin(2 * np.pi * 5 * t))
    elif label == "square":
        x = sum(0.3 / k * np.sin(2 * np.pi * k * f * t) for k in (1, 3, 5, 7, 9))
    else:
        u = (t * 4.0) % 1.0  # four sweeps per second, each 1 -> 3 kHz
        x = 0.3 * np.sin(2 * np.pi * (f * u + f * u * u) / 4.0) * (u < 0.8)
    return (x + rng.normal(0.0, noise, n)).astype(np.float32)


class SyntheticScene:
    """A generated scene with `.video` and `.audio` sources on one timeline and the truth.

    seconds: scene length; fps: frame rate (Hz); sample_rate_hz, block_ms: audio chunks.
    realtime: pace both sources by the wall clock (they then behave as live sources);
    otherwise they are file-like (nothing dropped, reproducible). video_noise/audio_noise:
    degradation (grey-level std / sample std). degradations: sensor failures over time
    (mmedge.sources.degradations: dark or frozen camera, loud noise or a muted microphone).
    """

    def __init__(
        self,
        seconds: float = 12.0,
        *,
        fps: float = 15.0,
        sample_rate_hz: int = 16000,
        block_ms: float = 100.0,
        width: int = 96,
        height: int = 96,
        seed: int = 0,
        realtime: bool = False,
        video_noise: float = 18.0,
        audio_noise: float = 0.05,
        degradations: Sequence[Degradation] = (),
    ) -> None:
        self.seconds, self.fps, self.sample_rate_hz = seconds, fps, sample_rate_hz
        self.width, self.height, self.seed = width, height, seed
        self.video_noise, self.audio_noise = video_noise, audio_noise
        self.degradations = list(degradations)
        rng = np.random.default_rng(seed)
        self.segments: list[Segment] = []
        t, last = 0.0, None
        while t < seconds:
            label = str(rng.choice([c for c in LABELS if c != last]))
            length = float(rng.uniform(1.5, 3.0))
            self.segments.append(
                Segment(label, t, min(t + length, seconds), int(rng.integers(1 << 31)))
            )
            t, last = t + length, label
        self.video = _SceneVideo(self, realtime)
        self.audio = _SceneAudio(self, block_ms, realtime)

    def segment_at(self, t_s: float) -> Segment:
        for s in self.segments:
            if s.t_start_s <= t_s < s.t_end_s:
                return s
        return self.segments[-1]

    def truth(self, t_s: float) -> str:
        """The class present at time t_s."""
        return self.segment_at(t_s).label

    def truth_of_span(self, t0_s: float, t1_s: float) -> str:
        """The class present for most of [t0, t1]."""
        overlap = {c: 0.0 for c in LABELS}
        for s in self.segments:
            overlap[s.label] += max(0.0, min(t1_s, s.t_end_s) - max(t0_s, s.t_start_s))
        return max(overlap, key=overlap.__getitem__)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (BGR uint8), as the camera delivers it (degradations included)."""
        failure = active(self.degradations, index / self.fps, camera=True)
        if failure is not None and failure.kind == "frozen":
            index = int(np.ceil(failure.t_start_s * self.fps - 1e-9))  # the frame it froze on
        image = self._clean_frame(index)
        if failure is not None and failure.kind == "dark":
            image = (image.astype(np.float32) * 0.05 + 0.5).astype(np.uint8)
        return image

    def _clean_frame(self, index: int) -> np.ndarray:
        t = index / self.fps
        seg = self.segment_at(t)
        rng = np.random.default_rng([self.seed, index, 1])
        style = np.random.default_rng(seg.seed)
        return render_frame(
            seg.label,
            t,
            rng,
            width=self.width,
            height=self.height,
            phase=float(style.uniform(0, 2 * np.pi)),
            colour=tuple(style.uniform(90, 255, 3)),
            noise=self.video_noise,
        )

    def samples(self, start: int, n: int) -> np.ndarray:
        """Audio samples [start, start + n) of the scene: each segment's sound, cut at the
        segment boundaries."""
        rate = self.sample_rate_hz
        t = (start + np.arange(n)) / rate
        starts = np.array([s.t_start_s for s in self.segments])
        which = np.searchsorted(starts, t, side="right") - 1
        out = np.empty(n, np.float32)
        for k in np.unique(which):
            run = np.flatnonzero(which == k)
            i0, m = int(run[0]), len(run)
            seg = self.segments[int(k)]
            pitch = float(np.random.default_rng(seg.seed).uniform(*PITCH_HZ[seg.label]))
            rng = np.random.default_rng([self.seed, start + i0, 2])
            out[i0 : i0 + m] = render_audio(
                seg.label, float(t[i0]), m, rate, rng, pitch=pitch, noise=self.audio_noise
            )
        for d in self.degradations:
            hit = (t >= d.t_start_s) & (t < d.t_end_s)
            if d.camera or not hit.any():
                continue
            if d.kind == "muted":
                out[hit] = 0.0
            else:
                noise = np.random.default_rng([self.seed, start, 3]).normal(0, NOISE_STD, n)
                out[hit] += noise[hit].astype(np.float32)
        return out


class _SceneVideo(Source):
    kind = "video"

    def __init__(self, scene: SyntheticScene, realtime: bool) -> None:
        self.scene, self.live, self.name = scene, realtime, "synthetic:video"
        self._index = 0
        self._t0: float | None = None

    def read(self) -> VideoFrame | None:
        scene = self.scene
        t = self._index / scene.fps
        if t >= scene.seconds:
            return None
        if self.live:
            self._t0 = self._t0 if self._t0 is not None else time.monotonic()
            time.sleep(max(0.0, self._t0 + t - time.monotonic()))
        frame = VideoFrame(scene.frame(self._index), t, 1.0 / scene.fps, self._index)
        self._index += 1
        return frame

    def stats(self) -> dict[str, Any]:
        return {"frames": self._index, "dropped": 0}


class _SceneAudio(Source):
    kind = "audio"

    def __init__(self, scene: SyntheticScene, block_ms: float, realtime: bool) -> None:
        self.scene, self.live, self.name = scene, realtime, "synthetic:audio"
        self.sample_rate_hz = scene.sample_rate_hz
        self.block = max(1, round(scene.sample_rate_hz * block_ms / 1000))
        self._index = 0
        self._t0: float | None = None

    def read(self) -> AudioChunk | None:
        scene = self.scene
        start = self._index * self.block
        total = int(scene.seconds * scene.sample_rate_hz)
        if start >= total:
            return None
        n = min(self.block, total - start)
        t = start / scene.sample_rate_hz
        if self.live:
            self._t0 = self._t0 if self._t0 is not None else time.monotonic()
            time.sleep(max(0.0, self._t0 + t + n / scene.sample_rate_hz - time.monotonic()))
        chunk = AudioChunk(scene.samples(start, n), scene.sample_rate_hz, t, self._index)
        self._index += 1
        return chunk

    def stats(self) -> dict[str, Any]:
        return {"chunks": self._index, "dropped": 0}
