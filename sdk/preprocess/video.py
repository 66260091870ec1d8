"""Video clips for 3D-CNN / video models: each frame is normalised once, on arrival, into a ring;
the newest `clip_len` frames come out as one (1, C, T, H, W) tensor without copying.

The ring holds 2T slots and every frame is written to slots i and i + T (i = its index mod T),
so the newest T frames always sit contiguously at slots (k + 1) mod T .. + T: the clip is a view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess import cuda
from mmedge.preprocess._checks import MAX_CLIP_FRAMES, require_at_most, require_positive_ints
from mmedge.preprocess.image import _on_device, run_cpu
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.preprocess.spec import register_spec

VIDEO_LAYOUTS = ("NCTHW", "NTCHW")


@register_spec
@dataclass(frozen=True)
class VideoSpec:
    """How frames become a clip tensor.

    clip_len: frames per clip (T). stride: temporal stride: every stride-th pushed frame is
        used (a 30 fps camera with stride 2 gives clips of 15 fps frames).
    frame: the ImageSpec each frame goes through. layout: NCTHW (PyTorch's video models, e.g.
        R(2+1)D) or NTCHW.
    """

    clip_len: int
    frame: ImageSpec
    stride: int = 1
    layout: str = "NCTHW"
    kind: str = field(default="video", init=False)

    def __post_init__(self) -> None:
        require_positive_ints(self, ("clip_len", "stride"))
        require_at_most(self, "clip_len * stride", self.clip_len * self.stride, MAX_CLIP_FRAMES)
        if not isinstance(self.frame, ImageSpec):
            raise PreprocessError(
                f"VideoSpec.frame must be an ImageSpec, got {type(self.frame).__name__}"
            )
        if self.layout not in VIDEO_LAYOUTS:
            raise PreprocessError(
                f"VideoSpec.layout must be one of {', '.join(VIDEO_LAYOUTS)}, got {self.layout!r}"
            )

    @property
    def span_frames(self) -> int:
        """Frames one clip spans in the source: clip_len frames, stride apart
        (clip_len * stride - (stride - 1))."""
        return self.clip_len * self.stride - (self.stride - 1)

    # -- the Spec protocol (mmedge.preprocess.spec) --------------------------------------------

    def apply(self, sample: Any, *, sample_rate_hz: int | None = None) -> np.ndarray:
        """A recorded clip ((T, H, W[, C]) frames) -> the model input (video_clip)."""
        return video_clip(sample, self)

    def apply_batch(
        self, samples: Sequence[Any], *, sample_rates: Sequence[int | None] | None = None
    ) -> np.ndarray:
        return np.concatenate([video_clip(s, self) for s in samples])

    def dynamic_axes(self) -> dict[int, str]:
        return {}

    def sample_shape(self) -> tuple[int | str, ...]:
        return self.clip_shape[1:]

    def random_sample(self, rng: np.random.Generator) -> np.ndarray:
        """clip_len * stride random frames at the model's frame size."""
        frame = self.frame.frame_shape(self.frame.height, self.frame.width)
        return rng.integers(0, 256, (self.clip_len * self.stride, *frame), dtype=np.uint8)

    @property
    def clip_shape(self) -> tuple[int, ...]:
        c, h, w = self.frame.output_shape
        t = self.clip_len
        return (1, c, t, h, w) if self.layout == "NCTHW" else (1, t, c, h, w)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "video",
            "clip_len": self.clip_len,
            "stride": self.stride,
            "layout": self.layout,
            "frame": self.frame.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VideoSpec:
        if d.get("kind", "video") != "video":
            raise PreprocessError(f"not a video spec: kind is {d.get('kind')!r}")
        unknown = sorted(set(d) - {"kind", "clip_len", "stride", "layout", "frame"})
        if unknown:
            raise PreprocessError(f"VideoSpec does not know the keys {unknown}")
        return cls(
            clip_len=d["clip_len"],
            frame=ImageSpec.from_dict(d["frame"]),
            stride=d.get("stride", 1),
            layout=d.get("layout", "NCTHW"),
        )


class FrameStack:
    """Rolling clip of the newest spec.clip_len frames.

    push(frame) normalises the frame once (the fused image kernel writes straight into the ring)
    and returns the newest clip, shaped spec.clip_shape, once clip_len frames have been taken;
    None before that and for frames skipped by the stride. The clip is a view of the ring:
    valid until the next push; copy it to keep it. Frames on the GPU (device arrays) need
    device="cuda", which keeps the ring in device memory.
    """

    def __init__(self, spec: VideoSpec, device: str = "cpu") -> None:
        if device not in ("cpu", "cuda"):
            raise PreprocessError(f"device must be 'cpu' or 'cuda', got {device!r}")
        self.spec = spec
        self.device = device
        c, h, w = spec.frame.output_shape
        t = spec.clip_len
        shape = (c, 2 * t, h, w) if spec.layout == "NCTHW" else (2 * t, c, h, w)
        if device == "cuda":
            self._ring: Any = cuda.DeviceArray(shape, spec.frame.dtype)
        else:
            self._ring = np.zeros(shape, dtype=spec.frame.dtype)
        self._pushed = 0  # frames offered
        self._taken = 0  # frames written to the ring

    def reset(self) -> None:
        """Forgets every frame (the next clip needs clip_len new ones)."""
        self._pushed = self._taken = 0

    @property
    def frames_taken(self) -> int:
        return self._taken

    def _slot(self, i: int) -> Any:
        """The (C, H, W) view of ring slot i."""
        if self.device == "cuda":
            return _DeviceSlot(self._ring, i, self.spec)
        return self._ring[:, i] if self.spec.layout == "NCTHW" else self._ring[i]

    def _write(self, frame: Any, slot: int) -> None:
        spec = self.spec.frame
        if self.device == "cuda":
            cuda.preprocess_image(frame, spec, out=self._slot(slot))
            return
        if _on_device(frame):
            raise PreprocessError("a device frame needs FrameStack(..., device='cuda')")
        run_cpu(frame, spec, self._slot(slot), "frame")

    def push(self, frame: Any) -> Any:
        """Takes one frame (any format the frame spec accepts); returns the newest clip or None."""
        index = self._pushed
        self._pushed += 1
        if index % self.spec.stride:
            return None
        t = self.spec.clip_len
        slot = self._taken % t
        self._write(frame, slot)
        if self.device == "cuda":
            self._write(frame, slot + t)  # a second launch beats strided device copies
        else:
            np.copyto(self._slot(slot + t), self._slot(slot))
        self._taken += 1
        return self.clip()

    def clip(self) -> Any:
        """The newest clip (a view), or None before clip_len frames were taken."""
        t = self.spec.clip_len
        if self._taken < t:
            return None
        start = self._taken % t
        if self.device == "cuda":
            return _DeviceClip(self._ring, start, self.spec)
        if self.spec.layout == "NCTHW":
            return self._ring[None, :, start : start + t]
        return self._ring[None, start : start + t]


class _DeviceSlot:
    """A (C, H, W) slot of a device ring, as __cuda_array_interface__."""

    def __init__(self, ring: Any, i: int, spec: VideoSpec) -> None:
        self._ring = ring
        c, h, w = spec.frame.output_shape
        item = np.dtype(spec.frame.dtype).itemsize
        t2 = 2 * spec.clip_len
        if spec.layout == "NCTHW":
            offset, strides = i * h * w * item, (t2 * h * w * item, w * item, item)
        else:
            offset, strides = i * c * h * w * item, (h * w * item, w * item, item)
        self.__cuda_array_interface__ = {
            "shape": (c, h, w),
            "typestr": np.dtype(spec.frame.dtype).str,
            "data": (ring.ptr + offset, False),
            "strides": strides,
            "version": 3,
        }


class _DeviceClip:
    """The newest clip of a device ring, (1, C, T, H, W) or (1, T, C, H, W), as
    __cuda_array_interface__ (strided, no copy)."""

    def __init__(self, ring: Any, start: int, spec: VideoSpec) -> None:
        self._ring = ring
        c, h, w = spec.frame.output_shape
        t = spec.clip_len
        item = np.dtype(spec.frame.dtype).itemsize
        if spec.layout == "NCTHW":
            offset = start * h * w * item
            strides = (c * 2 * t * h * w * item, 2 * t * h * w * item, h * w * item, w * item, item)
        else:
            offset = start * c * h * w * item
            strides = (t * c * h * w * item, c * h * w * item, h * w * item, w * item, item)
        self.shape = spec.clip_shape
        self.__cuda_array_interface__ = {
            "shape": self.shape,
            "typestr": np.dtype(spec.frame.dtype).str,
            "data": (ring.ptr + offset, False),
            "strides": strides,
            "version": 3,
        }


def video_clip(frames: Any, spec: VideoSpec, *, pad: bool = False) -> np.ndarray:
    """The model input (a new array shaped spec.clip_shape) of a recorded clip: its newest
    clip_len * stride frames through a FrameStack. frames: a (T, H, W[, C]) uint8 array or a
    sequence of frames. A shorter clip raises PreprocessError, or with pad=True repeats its
    last frame (for datasets of short clips)."""
    count = len(frames)
    needed = spec.span_frames
    if count == 0 or (count < needed and not pad):
        raise PreprocessError(
            f"clip has {count} frames; the model needs {needed} (clip_len {spec.clip_len}, "
            f"stride {spec.stride})"
        )
    stack = FrameStack(spec)
    first = max(0, count - needed)
    out = None
    for i in range(needed):
        out = stack.push(frames[min(first + i, count - 1)])
    return np.array(out)
