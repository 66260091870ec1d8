"""Labelled data for calibration and evaluation: the usual folder tree DIR/<label>/<file>
(images, wav/ogg/flac audio, video clips), read into raw samples and turned into model inputs
by the bundle's own preprocessing, so calibration and accuracy see what deployment sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge.errors import ExportError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
AUDIO_SUFFIXES = {".wav", ".ogg", ".flac"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
SUFFIXES = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES, "video": VIDEO_SUFFIXES}


@dataclass
class Labelled:
    """Raw samples with integer labels (indices into label_names).

    samples: images (uint8 HWC/HW in the spec's input format), audio (float32 mono), or clips
        (uint8 (T, H, W, C) frames). sample_rates: per audio sample, Hz (None: not audio, or
        audio already at its spec's rate, as generated fixtures are; rates_for() says which).
    """

    samples: list[Any]
    labels: np.ndarray
    label_names: list[str]
    sample_rates: list[int] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def rates_for(self, specs: Mapping[str, Any]) -> list[int] | None:
        """Per-sample rates (Hz) for mmedge.Model.predict_batch: the given ones, else the rate
        of the model's audio spec (samples without rates are at it), else None (no audio)."""
        if self.sample_rates:
            return list(self.sample_rates)
        rates = {s.sample_rate_hz for s in specs.values() if s is not None and s.kind == "audio"}
        if len(rates) > 1:
            raise ExportError(f"audio inputs at several rates {sorted(rates)}: give sample_rates")
        return [rates.pop()] * len(self.samples) if rates else None

    def subset(self, index: Sequence[int] | np.ndarray) -> Labelled:
        index = list(index)
        rates = [self.sample_rates[i] for i in index] if self.sample_rates else None
        return Labelled(
            [self.samples[i] for i in index], self.labels[index], self.label_names, rates
        )


@dataclass
class BoxLabelled:
    """Frames with boxes, for detection evaluation and calibration: samples (uint8 images in the
    spec's input format, each its own size), boxes[i] (k, 4) xyxy in that frame's pixels,
    classes[i] (k,) indices into label_names."""

    samples: list[Any]
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.samples)

    def rates_for(self, specs: Mapping[str, Any]) -> None:
        return None  # images: no sample rates

    def subset(self, index: Sequence[int] | np.ndarray) -> BoxLabelled:
        idx = list(index)
        return BoxLabelled(
            [self.samples[i] for i in idx],
            [self.boxes[i] for i in idx],
            [self.classes[i] for i in idx],
            self.label_names,
        )


@dataclass
class MaskLabelled:
    """Frames with class masks, for segmentation evaluation and calibration: samples (uint8
    images in the spec's input format, each its own size), masks[i] (H, W) uint8 class ids of
    that frame's pixels (indices into label_names; 255 = not labelled, ignored)."""

    samples: list[Any]
    masks: list[np.ndarray]
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.samples)

    def rates_for(self, specs: Mapping[str, Any]) -> None:
        return None  # images: no sample rates

    def subset(self, index: Sequence[int] | np.ndarray) -> MaskLabelled:
        idx = list(index)
        return MaskLabelled(
            [self.samples[i] for i in idx], [self.masks[i] for i in idx], self.label_names
        )


@dataclass
class EventLabelled:
    """Recordings with their events: samples (mono float32 at sample_rates Hz), events[i] a list
    of (onset s, offset s, class id), label_names."""

    samples: list[np.ndarray]
    events: list[list[tuple[float, float, int]]]
    label_names: list[str]
    sample_rates: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def rates_for(self, specs: Mapping[str, Any]) -> list[int]:
        return self.sample_rates

    def subset(self, index: Sequence[int] | np.ndarray) -> EventLabelled:
        idx = list(index)
        return EventLabelled([self.samples[i] for i in idx], [self.events[i] for i in idx],
                             self.label_names, [self.sample_rates[i] for i in idx])  # fmt: skip


@dataclass
class MultiLabelled:
    """Frames with one truth per task head, for multi-task evaluation and calibration:
    truths[head name] is a BoxLabelled (detection) or MaskLabelled (segmentation) over the same
    samples, in the same order."""

    truths: dict[str, BoxLabelled | MaskLabelled]

    def __post_init__(self) -> None:
        if not self.truths:
            raise ExportError("MultiLabelled needs at least one head's truth")
        sizes = {name: len(t) for name, t in self.truths.items()}
        if len(set(sizes.values())) != 1:
            raise ExportError(f"every head's truth must cover the same samples; sizes {sizes}")

    @property
    def samples(self) -> list[Any]:
        return next(iter(self.truths.values())).samples

    def __len__(self) -> int:
        return len(self.samples)

    def rates_for(self, specs: Mapping[str, Any]) -> None:
        return None  # images: no sample rates

    def subset(self, index: Sequence[int] | np.ndarray) -> MultiLabelled:
        return MultiLabelled({name: t.subset(index) for name, t in self.truths.items()})


AnyLabelled = Labelled | BoxLabelled | MaskLabelled | EventLabelled | MultiLabelled


def image_as(img: np.ndarray, image_format: str) -> np.ndarray:
    """A decoded image (BGR, or grey) in the spec's input format: GRAY, RGB or BGR (the
    formats an image file can give; camera formats come from cameras, not files)."""
    import cv2

    if img.ndim == 2:
        return img if image_format == "GRAY" else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:  # a PNG with alpha
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if image_format == "GRAY":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if image_format == "RGB":
        return np.ascontiguousarray(img[:, :, ::-1])
    return img


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ExportError(f"cannot read image {path}")
    return img


def _read_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise ExportError(f"cannot read audio {path}: {exc}") from exc
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(rate)


def _read_clip(path: Path) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise ExportError(f"cannot read video {path}")
    return np.stack(frames)


def read_folder(
    path: str | Path,
    modality: str,
    labels: Sequence[str] | None = None,
    image_format: str = "BGR",
    what: str = "data",
) -> Labelled:
    """Reads DIR/<label>/<file>. labels: the model's label list (folder names must be among
    them; default: the sorted folder names). Raises ExportError for a missing or empty folder,
    unknown labels, or unreadable files."""
    root = Path(path)
    if modality not in SUFFIXES:
        raise ExportError(f"{what}: modality must be image, audio or video, got {modality!r}")
    if not root.is_dir():
        raise ExportError(f"{what} folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise ExportError(f"{what} folder {root} has no <label>/ subfolders")
    names = list(labels) if labels is not None else [p.name for p in folders]
    unknown = [p.name for p in folders if p.name not in names]
    if unknown:
        raise ExportError(
            f"{what} folder {root} has labels the model does not know: {unknown} "
            f"(model labels: {names})"
        )
    files = [
        (f, names.index(folder.name))
        for folder in folders
        for f in sorted(folder.iterdir())
        if f.suffix.lower() in SUFFIXES[modality]
    ]
    if not files:
        raise ExportError(
            f"{what} folder {root} holds no {modality} files "
            f"({', '.join(sorted(SUFFIXES[modality]))})"
        )
    samples, ys, rates = [], [], []
    for f, y in tqdm(files, desc=f"read {what}", unit="file", leave=False):
        if modality == "image":
            samples.append(image_as(_read_image(f), image_format))
        elif modality == "audio":
            x, rate = _read_audio(f)
            samples.append(x)
            rates.append(rate)
        else:
            samples.append(_read_clip(f))
        ys.append(y)
    return Labelled(
        samples, np.asarray(ys, dtype=np.int64), names, rates if modality == "audio" else None
    )


def _random_raw(
    spec: pp.Spec | None, example_shape: Sequence[int], rng: np.random.Generator
) -> Any:
    if spec is not None:
        return spec.random_sample(rng)
    return rng.standard_normal(tuple(example_shape[1:])).astype(np.float32)


def random_samples(inputs: Sequence[Any], n: int, seed: int = 0) -> Labelled:
    """n seeded raw samples for ModelInputs (`.name`, `.preprocess`, `.example`) when no real
    data is given: uint8 frames of sizes around the model's, 0.1-RMS noise for audio, random
    clips, standard-normal tensors. Labels are 0 (meaningless)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        raw = {i.name: _random_raw(i.preprocess, tuple(i.example.shape), rng) for i in inputs}
        rows.append(raw if len(inputs) > 1 else raw[inputs[0].name])
    return Labelled(rows, np.zeros(n, np.int64), [])
