"""`ImageSpec`: how a camera frame becomes the model's input tensor (it travels in the bundle's
manifest), and the tables the fused kernel takes for it: the colour matrix (channel picks,
BT.601 luma), the affine normalisation, the letterbox region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

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
