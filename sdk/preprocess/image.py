"""Image preprocessing: the spec a model was trained with, and the fused kernel that applies it.

`ImageSpec` says how a camera frame becomes the model's input tensor; it travels in the bundle's
manifest. `image()` applies it in one pass of the C++ kernel (CPU) or the CUDA kernel (when the
input is a device array): bilinear resize in OpenCV's INTER_LINEAR convention, channel order,
`(x * scale - mean) / std`, HWC -> NCHW, float32 or float16.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from mmedge._ext import C
from mmedge.errors import PreprocessError

# Channel letters of each pixel format, in memory order. Y is luma (grey).
FORMAT_CHANNELS: dict[str, str] = {"GRAY": "Y", "BGR": "BGR", "RGB": "RGB"}
INTERPOLATIONS = ("bilinear",)
DTYPES = ("float32", "float16")
LAYOUTS = ("NCHW",)


def channel_map(input_format: str, output_format: str) -> list[int]:
    """Source channel index of each output channel (BGR -> RGB is [2, 1, 0]; GRAY -> RGB
    repeats the one channel). Raises PreprocessError for conversions that are not a pick."""
    src = FORMAT_CHANNELS[input_format]
    out = FORMAT_CHANNELS[output_format]
    if src == "Y":
        return [0] * len(out)
    if any(letter not in src for letter in out):
        raise PreprocessError(
            f"converting {input_format} to {output_format} needs a weighted colour conversion, "
            "which this version does not do; use output_format with channels the input has"
        )
    return [src.index(letter) for letter in out]


@dataclass(frozen=True)
class ImageSpec:
    """How an 8-bit camera frame becomes a model input.

    width, height: output size in px. The whole frame is resized to it (aspect not kept).
    input_format: pixel format of the frames you pass (`GRAY`, `BGR` as OpenCV delivers, `RGB`).
    output_format: channel order the model was trained with.
    scale, mean, std: out = (x * scale - mean[c]) / std[c] with x in 0..255; the defaults
        (mean 0, std 1 for every channel) give x / 255. torchvision's ImageNet numbers are
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225) with scale=1/255.
    dtype: `float32` or `float16` tensor elements. layout: `NCHW`.
    interpolation: `bilinear` (OpenCV INTER_LINEAR: half-pixel centres, edge clamp).
    """

    width: int
    height: int
    input_format: str = "BGR"
    output_format: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    dtype: str = "float32"
    layout: str = "NCHW"
    interpolation: str = "bilinear"
    kind: str = field(default="image", init=False)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise PreprocessError(
                    f"ImageSpec.{name} must be a positive int (px), got {value!r}"
                )
        for name, allowed in (
            ("input_format", tuple(FORMAT_CHANNELS)),
            ("output_format", tuple(FORMAT_CHANNELS)),
            ("dtype", DTYPES),
            ("layout", LAYOUTS),
            ("interpolation", INTERPOLATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise PreprocessError(
                    f"ImageSpec.{name} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        # Frozen: normalise sequences to tuples of float through object.__setattr__.
        for name, default in (("mean", 0.0), ("std", 1.0)):
            values = getattr(self, name)
            if values is None:
                values = (default,) * self.channels
            elif isinstance(values, (int, float)):
                values = (values,) * self.channels
            values = tuple(float(v) for v in values)
            if len(values) != self.channels:
                raise PreprocessError(
                    f"ImageSpec.{name} needs {self.channels} values for {self.output_format}, "
                    f"got {len(values)}"
                )
            object.__setattr__(self, name, values)
        if any(s == 0.0 or not math.isfinite(s) for s in self.std):
            raise PreprocessError(f"ImageSpec.std must be finite and non-zero, got {self.std}")
        if not math.isfinite(self.scale) or self.scale == 0.0:
            raise PreprocessError(f"ImageSpec.scale must be finite and non-zero, got {self.scale}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "scale", float(self.scale))
        channel_map(self.input_format, self.output_format)  # raises for unsupported conversions

    @property
    def channels(self) -> int:
        """Channels of the output tensor."""
        return len(FORMAT_CHANNELS[self.output_format])

    @property
    def input_channels(self) -> int:
        """Channels the input frames must have."""
        return len(FORMAT_CHANNELS[self.input_format])

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one preprocessed image."""
        return (self.channels, self.height, self.width)

    def affine(self) -> tuple[list[float], list[float]]:
        """(alpha, beta) per output channel with out = alpha * x + beta, x in 0..255."""
        alpha = [self.scale / s for s in self.std]
        beta = [-m / s for m, s in zip(self.mean, self.std, strict=True)]
        return alpha, beta

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the bundle manifest."""
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageSpec:
        """Inverse of to_dict(); rejects unknown keys so a typo never goes unnoticed."""
        if d.get("kind", "image") != "image":
            raise PreprocessError(f"not an image spec: kind is {d.get('kind')!r}")
        known = {f for f in cls.__dataclass_fields__ if f != "kind"}
        unknown = sorted(set(d) - known - {"kind"})
        if unknown:
            raise PreprocessError(f"ImageSpec does not know the keys {unknown}")
        kwargs = {k: v for k, v in d.items() if k in known}
        for name in ("mean", "std"):
            if name in kwargs and not isinstance(kwargs[name], (int, float)):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


def _as_hwc(img: Any, spec: ImageSpec, what: str = "image") -> np.ndarray:
    """Checks a host image against the spec and returns it as an (H, W, C) uint8 view."""
    if not isinstance(img, np.ndarray):
        raise PreprocessError(f"{what} must be a numpy array (H, W, C), got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise PreprocessError(f"{what} dtype must be uint8, got {img.dtype}")
    if img.ndim == 2:
        if spec.input_channels != 1:
            raise PreprocessError(
                f"{what} has shape {img.shape} (one channel), but spec.input_format "
                f"{spec.input_format} expects {spec.input_channels} channels"
            )
        img = img[:, :, None]
    elif img.ndim != 3:
        raise PreprocessError(
            f"{what} must have rank 2 (H, W) or 3 (H, W, C), got shape {img.shape}"
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise PreprocessError(f"{what} is empty: {img.shape[0]}x{img.shape[1]} px")
    if img.shape[2] != spec.input_channels:
        raise PreprocessError(
            f"{what} has {img.shape[2]} channels, spec.input_format {spec.input_format} "
            f"expects {spec.input_channels}"
        )
    return img


def _check_out(out: np.ndarray, shape: tuple[int, ...], spec: ImageSpec) -> None:
    if not isinstance(out, np.ndarray):
        raise PreprocessError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise PreprocessError(f"out has shape {out.shape}, expected {shape} ({spec.layout})")
    if out.dtype != np.dtype(spec.dtype):
        raise PreprocessError(f"out dtype is {out.dtype}, spec.dtype is {spec.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise PreprocessError("out must be C-contiguous and writeable")


def _run_cpu(img: np.ndarray, spec: ImageSpec, out_chw: np.ndarray) -> None:
    alpha, beta = spec.affine()
    try:
        C.resize_normalize(
            img,
            out_chw,
            src_channel=channel_map(spec.input_format, spec.output_format),
            alpha=alpha,
            beta=beta,
            pad=[0.0] * spec.channels,
            roi=(0, 0, spec.width, spec.height),
        )
    except ValueError as exc:  # the kernel's own argument check
        raise PreprocessError(str(exc)) from exc


def image(img: Any, spec: ImageSpec, out: Any = None) -> Any:
    """Preprocesses one frame into a (1, C, H, W) tensor.

    img: uint8 (H, W, C) or (H, W) numpy array in spec.input_format, any strides; or a device
        array (__cuda_array_interface__), which runs the CUDA kernel (see mmedge.cuda).
    out: optional (1, C, H, W) (or (C, H, W)) array of spec.dtype to write into; returned.
    Raises PreprocessError naming the problem (rank, dtype, channels, empty image, out shape).
    """
    if hasattr(img, "__cuda_array_interface__"):
        from mmedge import cuda

        return cuda.preprocess_image(img, spec, out)
    hwc = _as_hwc(img, spec)
    shape = (1, *spec.output_shape)
    if out is None:
        out = np.empty(shape, dtype=spec.dtype)
    elif getattr(out, "shape", None) == spec.output_shape:
        _check_out(out, spec.output_shape, spec)
        _run_cpu(hwc, spec, out)
        return out
    _check_out(out, shape, spec)
    _run_cpu(hwc, spec, out[0])
    return out


def image_batch(images: Sequence[Any] | np.ndarray, spec: ImageSpec, out: Any = None) -> np.ndarray:
    """Preprocesses N frames (a sequence of arrays, or one (N, H, W, C) array) into one
    (N, C, H, W) tensor; frames may differ in size. `out`: optional (N, C, H, W) array."""
    n = len(images)
    if n == 0:
        raise PreprocessError("image_batch needs at least one image")
    shape = (n, *spec.output_shape)
    if out is None:
        out = np.empty(shape, dtype=spec.dtype)
    else:
        _check_out(out, shape, spec)
    for i in range(n):
        _run_cpu(_as_hwc(images[i], spec, what=f"image {i}"), spec, out[i])
    return out
