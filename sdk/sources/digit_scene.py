"""`DigitScene`: a generated detection scene with its truth, for the detection demo and tests.

Digits move at constant speeds along horizontal lanes and bounce off the frame's sides, so they
cross the counting line at the frame's centre again and again. The glyphs are MNIST digits you
pass (the demo takes MNIST's test digits when the data are found) or the package's printed
sample digits (no dataset is copied). The background is an evenly lit grey wall with sensor
noise, or the frames of a video you give; the digits are blended into it as ink, the way the
built-in detector's training set was made. Each frame comes with the exact box of every digit,
and class mask, and the scene with the true crossings of the line by the digits' centres.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.sources.base import Source, VideoFrame

ALPHA_EDGE = 0.25  # a pixel belongs to a digit's box above this ink coverage (the training rule)
MASK_ALPHA = 0.5  # and to its mask above this one (the segmenter's training rule)


@dataclass(frozen=True)
class SceneObject:
    """One digit: its class, glyph (alpha 0..1 at its size, px), lane top y and motion: x of
    its left edge at frame 0 and speed, px per frame. tight: the box of its ink (alpha above
    ALPHA_EDGE) relative to the glyph's top-left corner, x1, y1, x2, y2 px."""

    class_id: int
    alpha: np.ndarray
    y: int
    x0: float
    speed: float
    ink: tuple[float, float, float]
    tight: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        ys, xs = np.nonzero(self.alpha > ALPHA_EDGE)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
        object.__setattr__(self, "tight", box)


@dataclass(frozen=True)
class FrameTruth:
    """The digits of one frame: boxes (k, 4) xyxy px, class ids and object ids."""

    boxes: np.ndarray
    class_ids: np.ndarray
    object_ids: np.ndarray


def _glyph_alphas() -> list[tuple[int, np.ndarray]]:
    """(digit, alpha in 0..1 cropped to the glyph) of the package's rendered sample frames."""
    from mmedge.demo import sample_frames

    frames, labels = sample_frames()
    out = []
    for frame, label in zip(frames, labels, strict=True):
        alpha = np.clip((frame.astype(np.float32) - 40.0) / 180.0, 0.0, 1.0)
        ys, xs = np.nonzero(alpha > 0)
        out.append((int(label), alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]))
    return out


def _resize(alpha: np.ndarray, height: int) -> np.ndarray:
    """Bilinear resize to `height` px, aspect kept (NumPy: no OpenCV needed)."""
    h, w = alpha.shape
    width = max(1, round(w * height / h))
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = alpha[y0][:, x0] * (1 - fx) + alpha[y0][:, x1] * fx
    bottom = alpha[y1][:, x0] * (1 - fx) + alpha[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


class DigitScene:
    """A generated detection scene (see the module docstring) with a `.video` source.

    seconds: length; fps: frame rate (Hz); width, height: frame size (px), taken from the
    background's frames when `background` (a video Source, e.g. VideoFile(path, loop=True)) is
    given; digits: how many move at once (one lane each); seed: the scene's layout and glyphs.
    glyphs: (digit, ink coverage 0..1 (H, W)) to draw from (default: the package's printed
    sample digits; e.g. MNIST digits / 255).
    realtime: pace the frames by the wall clock (a live source) instead of file-like.
    """

    def __init__(
        self,
        seconds: float = 10.0,
        *,
        fps: float = 15.0,
        width: int = 640,
        height: int = 480,
        digits: int = 4,
        seed: int = 0,
        background: Source | None = None,
        glyphs: list[tuple[int, np.ndarray]] | None = None,
        realtime: bool = False,
    ) -> None:
        if digits < 1 or height < 64 * digits:
            raise ValueError(f"{digits} digits need lanes of >= 64 px: height {height} px")
        self.seconds, self.fps, self.seed = seconds, fps, seed
        self.background = background
        self._first: np.ndarray | None = None
        if background is not None:
            first = background.read()
            if not isinstance(first, VideoFrame):
                raise ValueError(f"background {background.name} gave no video frame")
            self._first = first.image if first.image.ndim == 3 else first.image[..., None]
            height, width = self._first.shape[:2]
        self.width, self.height = width, height
        self._walls: list[np.ndarray] | None = None
        self.line = ((width / 2, 0.0), (width / 2, float(height)))
        rng = np.random.default_rng(seed)
        glyphs = glyphs or _glyph_alphas()
        lane = height // digits
        by_digit: dict[int, list[np.ndarray]] = {}
        for digit, alpha in glyphs:
            by_digit.setdefault(digit, []).append(alpha)
        order = rng.permutation(sorted(by_digit))  # distinct digits while there are enough
        self.objects = []
        for k in range(digits):
            digit = int(order[k % len(order)])
            alpha = by_digit[digit][int(rng.integers(len(by_digit[digit])))]
            size = int(rng.integers(min(70, lane - 8), min(110, lane - 8) + 1))
            glyph = _resize(alpha, size)
            speed = float(rng.uniform(4.0, 8.0)) * (1 if k % 2 == 0 else -1)
            x0 = float(rng.uniform(0, width - glyph.shape[1]))
            ink = tuple(float(v) for v in rng.uniform(0, 90, 3))
            y = k * lane + (lane - size) // 2
            self.objects.append(SceneObject(digit, glyph, y, x0, speed, ink))  # type: ignore[arg-type]
        self.video = _DigitVideo(self, realtime)

    @property
    def frames(self) -> int:
        return int(np.ceil(self.seconds * self.fps - 1e-9))

    def _x(self, obj: SceneObject, index: int) -> int:
        """Left edge at frame `index`: constant speed, reflected at the frame's sides."""
        span = self.width - obj.alpha.shape[1]
        x = (obj.x0 + obj.speed * index) % (2 * span)
        return round(2 * span - x if x > span else x)

    def _box(self, obj: SceneObject, index: int) -> np.ndarray:
        x = self._x(obj, index)
        return obj.tight + np.array([x, obj.y, x, obj.y], np.float32)

    def truth(self, index: int) -> FrameTruth:
        boxes, classes, ids = [], [], []
        for k, obj in enumerate(self.objects):
            boxes.append(self._box(obj, index))
            classes.append(obj.class_id)
            ids.append(k)
        return FrameTruth(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.array(classes, np.int32),
            np.array(ids, np.int64),
        )

    def mask(self, index: int) -> np.ndarray:
        """The class mask of frame `index`: (H, W) uint8, the digit's class + 1 where its ink
        covers more than half a pixel (alpha > MASK_ALPHA, the segmenter's training rule), 0
        elsewhere."""
        out = np.zeros((self.height, self.width), np.uint8)
        for obj in self.objects:
            x, (h, w) = self._x(obj, index), obj.alpha.shape
            out[obj.y : obj.y + h, x : x + w][obj.alpha > MASK_ALPHA] = obj.class_id + 1
        return out

    def crossings(self) -> dict[int, int]:
        """True crossings of the centre line by the digits' centres over the whole scene:
        {+1: left to right, -1: right to left} (LineCounter's directions for a line drawn
        top to bottom)."""
        counts = {+1: 0, -1: 0}
        middle = self.width / 2
        for obj in self.objects:
            boxes = [self._box(obj, i) for i in range(self.frames)]
            centres = [(b[0] + b[2]) / 2 for b in boxes]
            for a, b in itertools.pairwise(centres):
                if (a < middle) != (b < middle):
                    counts[+1 if b > a else -1] += 1
        return counts

    def frame(self, index: int, background: np.ndarray | None = None) -> np.ndarray:
        """Frame `index` (uint8 (H, W, 3) BGR) drawn over `background` (default: the wall)."""
        if background is None:
            image = self._wall(index)
        else:
            image = background.astype(np.float32)
            if image.ndim == 2 or image.shape[2] == 1:
                image = np.repeat(image.reshape(self.height, self.width, 1), 3, axis=2)
        for obj in self.objects:
            x, (h, w) = self._x(obj, index), obj.alpha.shape
            a = obj.alpha[..., None]
            region = image[obj.y : obj.y + h, x : x + w]
            region[:] = region * (1 - a) + np.asarray(obj.ink, np.float32) * a
        return np.clip(image + 0.5, 0, 255).astype(np.uint8)

    def _wall(self, index: int) -> np.ndarray:
        """An evenly lit grey wall (a soft vignette) with sensor noise (std 2 levels; one of
        8 seeded noise fields, in turn)."""
        if self._walls is None:
            yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
            r2 = ((yy - self.height / 2) ** 2 + (xx - self.width / 2) ** 2) / (self.width**2 / 4)
            wall = (165.0 - 40.0 * r2)[..., None]
            rng = np.random.default_rng([self.seed, 1])
            self._walls = [
                wall + rng.normal(0.0, 2.0, (self.height, self.width, 3)).astype(np.float32)
                for _ in range(8)
            ]
        return self._walls[index % 8].copy()


class _DigitVideo(Source):
    kind = "video"

    def __init__(self, scene: DigitScene, realtime: bool) -> None:
        self.scene, self.live, self.name = scene, realtime, "digit-scene"
        self._index = 0
        self._t0: float | None = None

    def read(self) -> VideoFrame | None:
        scene = self.scene
        if self._index >= scene.frames:
            return None
        background = None
        if scene.background is not None:
            if self._index == 0:
                background = scene._first
            else:
                item = scene.background.read()
                if not isinstance(item, VideoFrame):
                    return None
                background = item.image
        t = self._index / scene.fps
        if self.live:
            self._t0 = self._t0 if self._t0 is not None else time.monotonic()
            time.sleep(max(0.0, self._t0 + t - time.monotonic()))
        frame = VideoFrame(scene.frame(self._index, background), t, 1 / scene.fps, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        if self.scene.background is not None:
            self.scene.background.close()

    def stats(self) -> dict[str, Any]:
        return {"frames": self._index, "dropped": 0}
