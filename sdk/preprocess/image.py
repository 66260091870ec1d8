"""Image preprocessing: the spec a model was trained with, and the fused kernel that applies it.

`ImageSpec` says how a camera frame becomes the model's input tensor; it travels in the bundle's
manifest. `image()` applies it in one pass of the C++ kernel (CPU) or the CUDA kernel (when the
input is a device array): resize (OpenCV INTER_LINEAR or INTER_AREA, or PIL/torchvision
antialiased bilinear), optional letterbox, colour conversion (BGR, RGB, BGRA, RGBA, GRAY and the
camera formats NV12 and I420), `(x * scale - mean) / std`, HWC -> NCHW, float32 or float16.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess._checks import require_positive_ints

# Values the kernel reads per source pixel, by letter: packed formats give their channels in
# memory order; YUV 4:2:0 formats are converted to R, G, B and give the raw luma Y as well.
SOURCE_VALUES: dict[str, str] = {
    "GRAY": "Y",
    "BGR": "BGR",
    "RGB": "RGB",
    "BGRA": "BGRA",
    "RGBA": "RGBA",
    "NV12": "RGBY",
    "I420": "RGBY",
}
OUTPUT_FORMATS: dict[str, str] = {"GRAY": "Y", "BGR": "BGR", "RGB": "RGB"}
YUV_FORMATS = {"NV12": 1, "I420": 2}
INTERPOLATIONS = {"bilinear": 0, "area": 1, "bilinear_antialias": 2}
LETTERBOX_STYLES = ("opencv", "ultralytics")
DTYPES = ("float32", "float16")
LAYOUTS = ("NCHW",)
# ITU-R BT.601 luma weights, as cv::cvtColor(COLOR_BGR2GRAY) uses them.
LUMA = {"R": 0.299, "G": 0.587, "B": 0.114}


def colour_matrix(input_format: str, output_format: str) -> np.ndarray:
    """(out_channels, source values) weights: one-hot rows for channel picks, BT.601 luma
    weights for colour -> GRAY, and GRAY repeated for GRAY -> colour."""
    src, out = SOURCE_VALUES[input_format], OUTPUT_FORMATS[output_format]
    m = np.zeros((len(out), len(src)))
    for c, letter in enumerate(out):
        if letter in src:
            m[c, src.index(letter)] = 1.0
        elif letter == "Y":
            for rgb, w in LUMA.items():
                m[c, src.index(rgb)] = w
        else:  # a colour channel from a grey source
            m[c, src.index("Y")] = 1.0
    return m


@dataclass(frozen=True)
class ImageSpec:
    """How an 8-bit camera frame becomes a model input.

    width, height: output size in px.
    input_format: the frames you pass: GRAY, BGR (as OpenCV delivers), RGB, BGRA, RGBA, or the
        camera formats NV12 and I420 (BT.601 limited range, as cv::cvtColor converts them).
    output_format: channel order the model was trained with: RGB, BGR or GRAY (BT.601 luma).
    scale, mean, std: out = (x * scale - mean[c]) / std[c] with x in 0..255; the defaults
        (mean 0, std 1 for every channel) give x / 255. torchvision's ImageNet numbers are
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225) with scale=1/255.
    interpolation: bilinear (OpenCV INTER_LINEAR: half-pixel centres, edge clamp), area
        (OpenCV INTER_AREA), bilinear_antialias (PIL BILINEAR, torchvision antialias=True).
    letterbox: None stretches the frame to width x height; 'opencv' keeps the aspect ratio and
        centres it as cv2.dnn.blobFromImageWithParams(DNN_PMODE_LETTERBOX) does, 'ultralytics'
        as YOLOv5/v8's LetterBox does (they round the scaled size differently).
    pad_value: border colour of the letterbox per output channel, in pixel units (0..255).
    dtype: float32 or float16 tensor elements. layout: NCHW.
    """

    width: int
    height: int
    input_format: str = "BGR"
    output_format: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    letterbox: str | None = None
    pad_value: tuple[float, ...] | float = 0.0
    dtype: str = "float32"
    layout: str = "NCHW"
    kind: str = field(default="image", init=False)

    def __post_init__(self) -> None:
        require_positive_ints(self, ("width", "height"), " (px)")
        for name, allowed in (
            ("input_format", tuple(SOURCE_VALUES)),
            ("output_format", tuple(OUTPUT_FORMATS)),
            ("dtype", DTYPES),
            ("layout", LAYOUTS),
            ("interpolation", tuple(INTERPOLATIONS)),
            ("letterbox", (None, *LETTERBOX_STYLES)),
        ):
            if getattr(self, name) not in allowed:
                raise PreprocessError(
                    f"ImageSpec.{name} must be one of {', '.join(map(str, allowed))}, "
                    f"got {getattr(self, name)!r}"
                )
        for name, default in (("mean", 0.0), ("std", 1.0), ("pad_value", None)):
            values = getattr(self, name)
            if values is None:
                values = (default,) * self.channels
            elif isinstance(values, (int, float, np.number)):
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

    @property
    def channels(self) -> int:
        """Channels of the output tensor."""
        return len(OUTPUT_FORMATS[self.output_format])

    @property
    def input_channels(self) -> int:
        """Channels of a packed input frame (YUV formats: 1, the Y plane)."""
        return 1 if self.input_format in YUV_FORMATS else len(SOURCE_VALUES[self.input_format])

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one preprocessed image."""
        return (self.channels, self.height, self.width)

    def affine(self) -> tuple[list[float], list[float]]:
        """(alpha, beta) per output channel with out = alpha * x + beta, x in 0..255."""
        alpha = [self.scale / s for s in self.std]
        beta = [-m / s for m, s in zip(self.mean, self.std, strict=True)]
        return alpha, beta

    def resize_region(self, src_width: int, src_height: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) px of the output the frame is resized into: the whole output,
        or the centred, aspect-preserving letterbox region. Maps detections back to the frame:
        frame_x = (x_out - x) * src_width / width."""
        if self.letterbox is None:
            return (0, 0, self.width, self.height)
        if self.letterbox == "opencv":
            # cv::dnn::blobFromImagesWithParams: float32 factor, truncated size, floor centring.
            f32 = np.float32
            factor = min(f32(self.width) / f32(src_width), f32(self.height) / f32(src_height))
            rw = max(1, int(f32(src_width) * factor))
            rh = max(1, int(f32(src_height) * factor))
            return ((self.width - rw) // 2, (self.height - rh) // 2, rw, rh)
        # Ultralytics LetterBox(auto=False, center=True): rounded size, round(d - 0.1) offsets.
        r = min(self.height / src_height, self.width / src_width)
        rw, rh = max(1, round(src_width * r)), max(1, round(src_height * r))
        left = round((self.width - rw) / 2 - 0.1)
        top = round((self.height - rh) / 2 - 0.1)
        return (left, top, rw, rh)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the bundle manifest."""
        d = asdict(self)
        for name in ("mean", "std", "pad_value"):
            d[name] = list(getattr(self, name))
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
        for name in ("mean", "std", "pad_value"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


@lru_cache(maxsize=256)
def kernel_arguments(spec: ImageSpec) -> tuple[list[list[float]], list[float], list[float]]:
    """(weight rows, bias, pad) of the kernel's colour matrix for this spec (cached per spec):
    the colour matrix scaled by alpha, beta as bias, and the pad value normalised."""
    alpha, beta = spec.affine()
    m = colour_matrix(spec.input_format, spec.output_format)
    weight = [[float(a * w) for w in row] for a, row in zip(alpha, m, strict=True)]
    pad = [a * p + b for a, p, b in zip(alpha, spec.pad_value, beta, strict=True)]
    return weight, [float(b) for b in beta], pad


def _check_uint8(a: Any, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise PreprocessError(f"{what} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.uint8:
        raise PreprocessError(f"{what} dtype must be uint8, got {a.dtype}")
    return a


def _packed_planes(img: Any, spec: ImageSpec, what: str) -> list[np.ndarray]:
    img = _check_uint8(img, what)
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
    return [img]


def _yuv_planes(frame: Any, fmt: str, what: str) -> list[np.ndarray]:
    """The planes of an NV12/I420 frame: one (H * 3/2, W) array as OpenCV and most decoders
    lay it out, or the planes themselves: (Y, UV) for NV12, (Y, U, V) for I420."""
    if isinstance(frame, (tuple, list)):
        planes = [_check_uint8(p, f"{what} plane {i}") for i, p in enumerate(frame)]
        want = 2 if fmt == "NV12" else 3
        if len(planes) != want:
            raise PreprocessError(f"{what}: {fmt} takes {want} planes, got {len(planes)}")
        if fmt == "NV12" and planes[1].ndim == 2:  # (H/2, W) interleaved UV rows
            uv = planes[1]
            if uv.shape[1] % 2 or uv.strides[1] != 1:
                raise PreprocessError(
                    f"{what}: UV plane of shape {uv.shape} is not interleaved pairs"
                )
            planes[1] = np.lib.stride_tricks.as_strided(
                uv, (uv.shape[0], uv.shape[1] // 2, 2), (uv.strides[0], 2, 1)
            )
        return planes
    frame = _check_uint8(frame, what)
    if frame.ndim != 2 or frame.shape[0] % 3 or frame.shape[1] % 2:
        raise PreprocessError(
            f"{what}: a single-array {fmt} frame must have shape (H * 3/2, W) with even H and W, "
            f"got {frame.shape}"
        )
    h, w = frame.shape[0] * 2 // 3, frame.shape[1]
    if h == 0 or w == 0:
        raise PreprocessError(f"{what} is empty: {h}x{w} px")
    y = frame[:h]
    if fmt == "NV12":
        uv = frame[h:]
        return [y, np.lib.stride_tricks.as_strided(uv, (h // 2, w // 2, 2), (uv.strides[0], 2, 1))]
    if not frame.flags.c_contiguous:
        raise PreprocessError(
            f"{what}: a single-array I420 frame must be C-contiguous; pass (Y, U, V)"
        )
    chroma = frame[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    return [y, chroma[:n].reshape(h // 2, w // 2), chroma[n:].reshape(h // 2, w // 2)]


def source_planes(frame: Any, spec: ImageSpec, what: str = "image") -> tuple[int, list[Any]]:
    """(format code, planes) of a host frame, checked against the spec."""
    if spec.input_format in YUV_FORMATS:
        return YUV_FORMATS[spec.input_format], _yuv_planes(frame, spec.input_format, what)
    return 0, _packed_planes(frame, spec, what)


def _check_out(out: Any, shape: tuple[int, ...], spec: ImageSpec) -> None:
    if not isinstance(out, np.ndarray):
        raise PreprocessError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise PreprocessError(f"out has shape {out.shape}, expected {shape} ({spec.layout})")
    if out.dtype != np.dtype(spec.dtype):
        raise PreprocessError(f"out dtype is {out.dtype}, spec.dtype is {spec.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise PreprocessError("out must be C-contiguous and writeable")


def _run_cpu(
    frame: Any, spec: ImageSpec, out_chw: np.ndarray, what: str = "image", fill_border: bool = True
) -> None:
    fmt, planes = source_planes(frame, spec, what)
    height, width = planes[0].shape[:2]
    weight, bias, pad = kernel_arguments(spec)
    try:
        C.resize_normalize(
            fmt,
            planes,
            out_chw,
            weight,
            bias,
            pad,
            spec.resize_region(width, height),
            INTERPOLATIONS[spec.interpolation],
            fill_border,
        )
    except ValueError as exc:  # the kernel's own argument check
        raise PreprocessError(f"{what}: {exc}") from exc


def image(img: Any, spec: ImageSpec, out: Any = None, fill_border: bool = True) -> Any:
    """Preprocesses one frame into a (1, C, H, W) tensor.

    img: a uint8 frame in spec.input_format, any strides: (H, W, C) or (H, W) for packed
        formats; (H * 3/2, W) or the planes (Y, UV) / (Y, U, V) for NV12 / I420. A device
        array (__cuda_array_interface__) runs the CUDA kernel instead (see mmedge.cuda).
    out: optional (1, C, H, W) (or (C, H, W)) array of spec.dtype to write into; returned.
    fill_border: False writes only the resize region: for an `out` that already holds the
        letterbox border from an earlier call with the same frame size (a camera loop reusing
        one input buffer saves rewriting the border every frame).
    Raises PreprocessError naming the problem (rank, dtype, channels, empty image, out shape).
    """
    if _on_device(img):
        from mmedge import cuda

        return cuda.preprocess_image(img, spec, out, fill_border=fill_border)
    shape = (1, *spec.output_shape)
    if out is None:
        out = np.empty(shape, dtype=spec.dtype)
        fill_border = True
    elif getattr(out, "shape", None) == spec.output_shape:
        _check_out(out, spec.output_shape, spec)
        _run_cpu(img, spec, out, fill_border=fill_border)
        return out
    _check_out(out, shape, spec)
    _run_cpu(img, spec, out[0], fill_border=fill_border)
    return out


def _on_device(img: Any) -> bool:
    if isinstance(img, (tuple, list)):
        return bool(img) and hasattr(img[0], "__cuda_array_interface__")
    return hasattr(img, "__cuda_array_interface__")


def image_batch(images: Sequence[Any] | np.ndarray, spec: ImageSpec, out: Any = None) -> np.ndarray:
    """Preprocesses N frames (a sequence, or one (N, H, W, C) array) into one (N, C, H, W)
    tensor; frames may differ in size. `out`: optional (N, C, H, W) array."""
    n = len(images)
    if n == 0:
        raise PreprocessError("image_batch needs at least one image")
    shape = (n, *spec.output_shape)
    if out is None:
        out = np.empty(shape, dtype=spec.dtype)
    else:
        _check_out(out, shape, spec)
    for i in range(n):
        _run_cpu(images[i], spec, out[i], what=f"image {i}")
    return out
