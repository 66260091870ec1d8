"""`ImageSpec`: how a camera frame becomes the model's input tensor. It travels in the bundle's
manifest and applies itself through the fused kernel (mmedge.preprocess.image)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess._checks import MAX_IMAGE_SIDE_PX, require_at_most, require_positive_ints
from mmedge.preprocess.image import image, image_batch
from mmedge.preprocess.image_formats import (
    DTYPES,
    INTERPOLATIONS,
    LAYOUTS,
    LETTERBOX_STYLES,
    OUTPUT_FORMATS,
    PACKED_422,
    SOURCE_VALUES,
    YUV_FORMATS,
    YUV_MATRICES,
    YUV_RANGES,
)
from mmedge.preprocess.spec import register_spec


@register_spec
@dataclass(frozen=True)
class ImageSpec:
    """How an 8-bit camera frame becomes a model input.

    width, height: output size in px.
    input_format: the frames you pass: GRAY, BGR (as OpenCV delivers), RGB, BGRA, RGBA, or the
        camera formats NV12, NV21, I420, YV12 (4:2:0) and YUYV, UYVY (packed 4:2:2, USB cameras).
    yuv_matrix, yuv_range: how YUV input becomes RGB: bt601 or bt709, limited (video range,
        Y 16..235) or full (JPEG range); the default bt601 limited is what cv::cvtColor does.
    output_format: channel order the model was trained with: RGB, BGR or GRAY (BT.601 luma).
    scale, mean, std: out = (x * scale - mean[c]) / std[c] with x in 0..255; the defaults
        (mean 0, std 1 for every channel) give x / 255. torchvision's ImageNet numbers are
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225) with scale=1/255.
    interpolation: bilinear (OpenCV INTER_LINEAR: half-pixel centres, edge clamp), area
        (OpenCV INTER_AREA), bicubic (OpenCV INTER_CUBIC), nearest (OpenCV INTER_NEAREST),
        nearest_exact (OpenCV INTER_NEAREST_EXACT = PIL NEAREST), bilinear_antialias and
        bicubic_antialias (PIL BILINEAR / BICUBIC, torchvision antialias=True). Cubic modes
        saturate to 0..255 as the peers' 8-bit paths do (PIL after each pass, OpenCV at the end).
    resize_short_side: torchvision's eval transform Resize(resize_short_side) +
        CenterCrop((height, width)) in the same pass: the frame is resized so its shorter side
        is this many px (the longer one truncated as torchvision computes it) and the centre
        width x height px are kept. Needs resize_short_side >= max(width, height).
    letterbox: None stretches the frame to width x height; 'opencv' keeps the aspect ratio and
        centres it as cv2.dnn.blobFromImageWithParams(DNN_PMODE_LETTERBOX) does, 'ultralytics'
        as YOLOv5/v8's LetterBox does (they round the scaled size differently).
        letterbox_scaleup=False (Ultralytics scaleup=False): never enlarge the frame;
        letterbox_center=False (Ultralytics center=False): the frame at the top-left corner;
        letterbox_auto=True (Ultralytics auto=True): pad only up to the next multiple of
        letterbox_stride px, so the tensor size depends on the frame's (tensor_size()): for
        models with dynamic height and width, not for bundles (fixed input size).
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
    letterbox_scaleup: bool = True
    letterbox_center: bool = True
    letterbox_auto: bool = False
    letterbox_stride: int = 32
    resize_short_side: int | None = None
    yuv_matrix: str = "bt601"
    yuv_range: str = "limited"
    kind: str = field(default="image", init=False)

    def __post_init__(self) -> None:
        require_positive_ints(self, ("width", "height"), " (px)")
        for side in ("width", "height"):
            require_at_most(self, side, getattr(self, side), MAX_IMAGE_SIDE_PX, " px")
        for name, allowed in (
            ("input_format", tuple(SOURCE_VALUES)),
            ("output_format", tuple(OUTPUT_FORMATS)),
            ("dtype", DTYPES),
            ("layout", LAYOUTS),
            ("interpolation", tuple(INTERPOLATIONS)),
            ("letterbox", (None, *LETTERBOX_STYLES)),
            ("yuv_matrix", tuple(YUV_MATRICES)),
            ("yuv_range", YUV_RANGES),
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
        self._check_geometry_options()
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "scale", float(self.scale))

    def _check_geometry_options(self) -> None:
        ultralytics = not self.letterbox_scaleup or not self.letterbox_center or self.letterbox_auto
        if ultralytics and self.letterbox != "ultralytics":
            raise PreprocessError(
                "ImageSpec.letterbox_scaleup, letterbox_center and letterbox_auto are Ultralytics "
                f"LetterBox options: they need letterbox='ultralytics', not {self.letterbox!r}"
            )
        require_positive_ints(self, ("letterbox_stride",), " (px)")
        if self.resize_short_side is not None:
            require_positive_ints(self, ("resize_short_side",), " (px)")
            require_at_most(
                self, "resize_short_side", self.resize_short_side, MAX_IMAGE_SIDE_PX, " px"
            )
            if self.letterbox is not None:
                raise PreprocessError(
                    "ImageSpec.resize_short_side (resize + centre crop) and letterbox exclude "
                    "each other"
                )
            if self.resize_short_side < max(self.width, self.height):
                raise PreprocessError(
                    f"ImageSpec.resize_short_side {self.resize_short_side} px is smaller than the "
                    f"{self.width}x{self.height} px crop: the crop would leave the resized frame"
                )
        yuv = (self.yuv_matrix, self.yuv_range) != ("bt601", "limited")
        if yuv and self.input_format not in YUV_FORMATS:
            raise PreprocessError(
                "ImageSpec.yuv_matrix and yuv_range apply to YUV input formats, not "
                f"{self.input_format}"
            )

    @property
    def channels(self) -> int:
        """Channels of the output tensor."""
        return len(OUTPUT_FORMATS[self.output_format])

    @property
    def input_channels(self) -> int:
        """Channels of a packed input frame (4:2:0 formats: 1, the Y plane; 4:2:2: 2 bytes)."""
        if self.input_format in PACKED_422:
            return 2
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

    def tensor_size(self, src_width: int, src_height: int) -> tuple[int, int]:
        """(width, height) px of the tensor for a src_width x src_height frame: the spec's size,
        except with letterbox_auto (the resized frame padded to the next stride multiple)."""
        if not self.letterbox_auto:
            return (self.width, self.height)
        _, _, rw, rh = self._ultralytics_region(src_width, src_height, (0, 0))
        return (
            rw + (self.width - rw) % self.letterbox_stride,
            rh + (self.height - rh) % self.letterbox_stride,
        )

    def resize_region(self, src_width: int, src_height: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) px of the output the frame is resized into: the whole output,
        or the aspect-preserving letterbox region. With resize_short_side, the whole output
        shows a window of a larger resize (resize_window)."""
        if self.letterbox is None:
            return (0, 0, self.width, self.height)
        if self.letterbox == "opencv":
            # cv::dnn::blobFromImagesWithParams: float32 factor, truncated size, floor centring.
            f32 = np.float32
            factor = min(f32(self.width) / f32(src_width), f32(self.height) / f32(src_height))
            rw = max(1, int(f32(src_width) * factor))
            rh = max(1, int(f32(src_height) * factor))
            return ((self.width - rw) // 2, (self.height - rh) // 2, rw, rh)
        return self._ultralytics_region(
            src_width, src_height, self.tensor_size(src_width, src_height)
        )

    def _ultralytics_region(
        self, src_width: int, src_height: int, tensor: tuple[int, int]
    ) -> tuple[int, int, int, int]:
        # Ultralytics LetterBox: rounded size; centred: round(d / 2 - 0.1) offsets.
        r = min(self.height / src_height, self.width / src_width)
        if not self.letterbox_scaleup:
            r = min(r, 1.0)
        rw, rh = max(1, round(src_width * r)), max(1, round(src_height * r))
        if not self.letterbox_center:
            return (0, 0, rw, rh)
        left = round((tensor[0] - rw) / 2 - 0.1)
        top = round((tensor[1] - rh) / 2 - 0.1)
        return (left, top, rw, rh)

    def resize_window(self, src_width: int, src_height: int) -> tuple[int, int, int, int]:
        """(resized width, resized height, x, y) px of the centre crop with resize_short_side
        (torchvision Resize(int) sizes, CenterCrop offsets); (0, 0, 0, 0) without."""
        if self.resize_short_side is None:
            return (0, 0, 0, 0)
        short, long = sorted((src_width, src_height))
        new_long = int(self.resize_short_side * long / short)
        rw, rh = (
            (self.resize_short_side, new_long)
            if src_width <= src_height
            else (new_long, self.resize_short_side)
        )
        return (rw, rh, round((rw - self.width) / 2.0), round((rh - self.height) / 2.0))

    # -- the Spec protocol (mmedge.preprocess.spec) --------------------------------------------

    def apply(self, sample: Any, *, sample_rate_hz: int | None = None) -> np.ndarray:
        """One frame -> (1, C, H, W) (mmedge.preprocess.image)."""
        return image(sample, self)

    def apply_batch(
        self, samples: Sequence[Any], *, sample_rates: Sequence[int | None] | None = None
    ) -> np.ndarray:
        """N frames (sizes may differ) -> (N, C, H, W) in one kernel call per frame, one
        output buffer."""
        return image_batch(samples, self)

    def dynamic_axes(self) -> dict[int, str]:
        return {}

    def sample_shape(self) -> tuple[int | str, ...]:
        """(C, H, W) of one tensor; raises for letterbox_auto, whose size follows the frame."""
        if self.letterbox_auto:
            raise PreprocessError(
                "letterbox_auto gives a tensor size that depends on the frame; a bundle input "
                "has a fixed size: use letterbox_auto=False (Ultralytics exports do)"
            )
        return self.output_shape

    def random_sample(self, rng: np.random.Generator) -> np.ndarray:
        """A uint8 frame in input_format of a random size between half and twice the model's."""
        h = int(rng.integers(max(1, self.height // 2), self.height * 2 + 1))
        w = int(rng.integers(max(1, self.width // 2), self.width * 2 + 1))
        return rng.integers(0, 256, self.frame_shape(h, w), dtype=np.uint8)

    def frame_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of a uint8 input frame of about height x width px in input_format: (H, W, C),
        (H, W) for GRAY, (H * 3/2, W) with even H and W for the 4:2:0 formats, (H, W, 2) with
        even W for YUYV/UYVY."""
        if self.input_format in PACKED_422:
            return (height, width + width % 2, 2)
        if self.input_format in YUV_FORMATS:
            return (3 * (height + height % 2) // 2, width + width % 2)
        if self.input_channels == 1:
            return (height, width)
        return (height, width, self.input_channels)

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
