"""Recipes that build the built-in bundles from public data; scripts/build_bundles.py runs them
and the tests rerun them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.datasets import SpokenDigits, load_fsdd, load_mnist
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import Labelled
from mmedge.export.presets import PRESETS
from mmedge.export.recipes.training import TrainResult, train_classifier
from mmedge.export.zoo import audio_cnn, crnn, tiny_cnn

MNIST_SPEC = PRESETS["mnist"]
MNIST_LABELS = [str(d) for d in range(10)]
DIGIT_LABELS = MNIST_LABELS
FSDD_SPECS = {"cnn": PRESETS["fsdd-mfcc"], "crnn": PRESETS["fsdd-logmel"]}


@dataclass
class RecipeResult:
    model: torch.nn.Module
    bundle: Path
    train: TrainResult
    total_seconds: float


def train_mnist(
    out: str | Path,
    *,
    data_root: str | Path | None = None,
    epochs: int = 3,
    seed: int = 0,
    precisions: tuple[str, ...] = ("fp32",),
    calibration_samples: int = 1000,
    progress: bool = True,
    overwrite: bool = True,
) -> RecipeResult:
    """Trains the tiny CNN on the 60k MNIST training images (preprocessed by the bundle's own
    kernel, so training and deployment see identical tensors), then exports it to `out` with
    parity and top-1 accuracy on all 10k test images; int8 is calibrated on the last
    `calibration_samples` training images."""
    start = time.perf_counter()
    train_images, train_labels = load_mnist("train", data_root)
    test_images, test_labels = load_mnist("test", data_root)
    inputs = pp.image_batch(train_images, MNIST_SPEC)
    model = tiny_cnn(in_channels=1, num_classes=10, input_size=28)
    result = train_classifier(
        model, inputs, train_labels, epochs=epochs, seed=seed, progress=progress
    )
    calibration = Labelled(
        list(train_images[-calibration_samples:]),
        train_labels[-calibration_samples:].astype(np.int64),
        MNIST_LABELS,
    )
    bundle = export_bundle(
        model,
        out,
        name="mnist_cnn",
        example_input=torch.from_numpy(inputs[:1]),
        labels=MNIST_LABELS,
        preprocess=MNIST_SPEC,
        precisions=precisions,
        calibration=calibration if "int8" in precisions else None,
        evaluation=Labelled(list(test_images), test_labels.astype(np.int64), MNIST_LABELS),
        description=f"TinyCNN trained on MNIST (60k images, {epochs} epochs, seed {seed}) "
        "by mmedge.export.recipes.train_mnist",
        overwrite=overwrite,
        progress=progress,
    )
    return RecipeResult(model, bundle, result, time.perf_counter() - start)


def fsdd_labelled(clips: SpokenDigits) -> Labelled:
    """FSDD recordings as labelled raw audio (8 kHz; the bundle's spec resamples)."""
    return Labelled(list(clips.samples), clips.labels, DIGIT_LABELS, list(clips.rates))


def fsdd_model(arch: str, width: int | None = None) -> torch.nn.Module:
    """The FSDD digit model: 'cnn' (audio_cnn over 40 MFCC, N1FT) or 'crnn' (conv + GRU over
    40 log-mel bands, NTF)."""
    if arch == "cnn":
        return audio_cnn(num_classes=10, n_features=40, width=width or 16)
    if arch == "crnn":
        return crnn(num_classes=10, n_features=40, width=width or 64)
    raise ValueError(f"arch must be 'cnn' or 'crnn', got {arch!r}")


def fsdd_cnn() -> torch.nn.Module:
    """Factory of the FSDD audio CNN (for `mmedge export mmedge.export.recipes:fsdd_cnn`)."""
    return fsdd_model("cnn")


def fsdd_crnn() -> torch.nn.Module:
    """Factory of the FSDD CRNN (for `mmedge export mmedge.export.recipes:fsdd_crnn`)."""
    return fsdd_model("crnn")


def train_fsdd_model(
    arch: str,
    *,
    data_root: str | Path | None = None,
    epochs: int = 12,
    seed: int = 0,
    progress: bool = True,
) -> tuple[torch.nn.Module, TrainResult]:
    """Trains fsdd_model(arch) on FSDD takes 5-49 with features from the bundle's own kernels."""
    spec = FSDD_SPECS[arch]
    train = load_fsdd("train", data_root)
    inputs = np.concatenate(
        [pp.audio(x, spec, r) for x, r in zip(train.samples, train.rates, strict=True)]
    )
    model = fsdd_model(arch)
    result = train_classifier(
        model,
        inputs,
        train.labels,
        epochs=epochs,
        batch_size=64,
        lr=5e-3,
        seed=seed,
        progress=progress,
    )
    return model, result


def train_fsdd(
    out: str | Path,
    arch: str = "cnn",
    *,
    data_root: str | Path | None = None,
    epochs: int = 12,
    seed: int = 0,
    precisions: tuple[str, ...] = ("fp32",),
    max_accuracy_drop: float = 1.0,
    progress: bool = True,
    overwrite: bool = True,
) -> RecipeResult:
    """Trains an FSDD spoken-digit model on takes 5-49 (2,250 recordings, 6 speakers), features
    from the bundle's own kernels (FSDD_SPECS: 8 kHz resampled to 16 kHz, 1 s window), and
    exports it with accuracy on takes 0-4 (250 recordings) and int8 calibrated on 500 training
    recordings."""
    start = time.perf_counter()
    spec = FSDD_SPECS[arch]
    model, result = train_fsdd_model(
        arch, data_root=data_root, epochs=epochs, seed=seed, progress=progress
    )
    train, test = load_fsdd("train", data_root), load_fsdd("test", data_root)
    calibration = fsdd_labelled(train)
    calibration = calibration.subset(np.linspace(0, len(calibration) - 1, 500).astype(int))
    bundle = export_bundle(
        model,
        out,
        name=f"fsdd_{arch}",
        example_input=torch.zeros(spec.tensor_shape()),
        input_name="features",
        labels=DIGIT_LABELS,
        preprocess=spec,
        modality="audio",
        precisions=precisions,
        calibration=calibration if "int8" in precisions else None,
        evaluation=fsdd_labelled(test),
        max_accuracy_drop=max_accuracy_drop,
        description=(
            "audio_cnn over 40 MFCC" if arch == "cnn" else "crnn (conv + GRU) over 40 log-mel"
        )
        + f" trained on FSDD takes 5-49 ({epochs} epochs, seed {seed}) by "
        "mmedge.export.recipes.train_fsdd",
        overwrite=overwrite,
        progress=progress,
    )
    return RecipeResult(model, bundle, result, time.perf_counter() - start)


def render_digit_frames(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Synthetic camera frames of printed digits for the demo (no dataset is copied): each digit
    0-9 in two OpenCV Hershey fonts, white on a dark, noisy background, fitted into 20/28 of the
    frame and centred by mass the way MNIST digits were, at several frame sizes (px).
    Returns (frames uint8 (H, W), labels)."""
    import cv2

    rng = np.random.default_rng(seed)
    fonts = [(cv2.FONT_HERSHEY_SIMPLEX, 18), (cv2.FONT_HERSHEY_DUPLEX, 12)]
    sizes = [(96, 96), (120, 90), (64, 64), (160, 120), (80, 100)]
    frames, labels = [], []
    for f, (font, thickness) in enumerate(fonts):
        for digit in range(10):
            width, height = sizes[(digit + f) % len(sizes)]
            canvas = np.zeros((300, 300), np.uint8)
            cv2.putText(canvas, str(digit), (60, 240), font, 7, 255, thickness, cv2.LINE_AA)
            ys, xs = np.nonzero(canvas)
            glyph = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            box = min(width, height) * 20 / 28
            scale = box / max(glyph.shape)
            glyph = cv2.resize(
                glyph,
                (max(1, round(glyph.shape[1] * scale)), max(1, round(glyph.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            ).astype(np.float64)
            yy, xx = np.indices(glyph.shape)
            cy, cx = (yy * glyph).sum() / glyph.sum(), (xx * glyph).sum() / glyph.sum()
            top = int(np.clip(round(height / 2 - cy), 0, height - glyph.shape[0]))
            left = int(np.clip(round(width / 2 - cx), 0, width - glyph.shape[1]))
            frame = rng.normal(12.0, 6.0, (height, width))
            frame[top : top + glyph.shape[0], left : left + glyph.shape[1]] += glyph
            frames.append(np.clip(frame, 0, 255).astype(np.uint8))
            labels.append(digit)
    return frames, np.array(labels, dtype=np.int64)


def save_frames(path: str | Path, frames: list[np.ndarray], labels: np.ndarray) -> None:
    """Stores frames of different sizes in one .npz (frame_000, ...; labels), no pickle."""
    arrays = {f"frame_{i:03d}": frame for i, frame in enumerate(frames)}
    np.savez_compressed(path, labels=labels, **arrays)


def mnist_test_tensors(data_root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 10k MNIST test images preprocessed by MNIST_SPEC, and their labels."""
    images, labels = load_mnist("test", data_root)
    return pp.image_batch(images, MNIST_SPEC), labels
