"""Audio-visual digits: MNIST images paired with FSDD recordings of the same digit, each modality
degraded so that neither alone is near perfect, and the five ways mmedge fuses them.

Pairing (seeded, documented): every FSDD recording of a split (test: takes 0-4, 250
recordings; train: takes 5-49) is paired with `per_recording` MNIST images of the same split and
digit, drawn without replacement from a seeded shuffle of that digit's images (cycling when they
run out). Degradation, drawn per sample from a generator seeded with (seed, sample index):
  image  Gaussian noise of std IMAGE_NOISE_STD grey levels and one OCCLUDER_PX x OCCLUDER_PX
         square of a random grey level at a random place (a finger on the lens)
  audio  white noise at AUDIO_SNR_DB dB signal-to-noise ratio (power of the recording)
Each pair occupies a SLOT_S slot of a timeline: the image is shown for the slot, the recording
(8 kHz, zero-padded to the slot) plays in it; the pipeline fuses once per slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmedge import preprocess as pp
from mmedge.datasets import load_fsdd, load_mnist
from mmedge.export.bundle_export import ModelInput, ModelOutput, export_bundle
from mmedge.export.presets import PRESETS
from mmedge.export.recipes.training import train_classifier
from mmedge.export.zoo import audio_cnn, fusion_head, tiny_cnn
from mmedge.pipeline import Pipeline
from mmedge.pipeline.fusion import LATE_METHODS
from mmedge.sources.memory import AudioArray, ImageSequence

IMAGE_NOISE_STD = 80.0
OCCLUDER_PX = 14
AUDIO_SNR_DB = 0.0
SLOT_S = 1.0
AUDIO_RATE_HZ = 8000
IMAGE_SPEC = PRESETS["mnist"]
AUDIO_SPEC = PRESETS["fsdd-mfcc"]
LABELS = [str(d) for d in range(10)]


def degrade_image(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) + rng.normal(0.0, IMAGE_NOISE_STD, image.shape)
    r, c = rng.integers(0, image.shape[0] - OCCLUDER_PX, 2)
    x[r : r + OCCLUDER_PX, c : c + OCCLUDER_PX] = rng.uniform(0, 255)
    return np.clip(x, 0, 255).astype(np.uint8)


def degrade_audio(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(samples.astype(np.float64) ** 2))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (AUDIO_SNR_DB / 10)), samples.shape)
    return (samples + noise).astype(np.float32)


@dataclass
class AVPairs:
    """Degraded pairs: images uint8 (28, 28), audio float32 at 8 kHz, the digit, and what was
    paired (MNIST index, FSDD file name)."""

    images: list[np.ndarray]
    audio: list[np.ndarray]
    labels: np.ndarray
    pairs: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def make_pairs(
    split: str, data_root: str | Path | None = None, *, per_recording: int = 1, seed: int = 0
) -> AVPairs:
    """The seeded pairing and degradation of the module docstring."""
    clips = load_fsdd(split, data_root)
    images, digits = load_mnist(split, data_root)
    rng = np.random.default_rng(seed)
    pools = {d: rng.permutation(np.flatnonzero(digits == d)) for d in range(10)}
    used = dict.fromkeys(range(10), 0)
    out = AVPairs([], [], np.zeros(0, np.int64))
    labels = []
    for name, samples, rate, label in zip(
        clips.names, clips.samples, clips.rates, clips.labels, strict=True
    ):
        if rate != AUDIO_RATE_HZ:
            samples = pp.resample(samples, rate, AUDIO_RATE_HZ)
        for _ in range(per_recording):
            d = int(label)
            index = int(pools[d][used[d] % len(pools[d])])
            used[d] += 1
            noise = np.random.default_rng([seed, len(labels)])
            out.images.append(degrade_image(images[index], noise))
            out.audio.append(degrade_audio(samples, noise))
            out.pairs.append((index, name))
            labels.append(d)
    out.labels = np.asarray(labels, np.int64)
    return out


class JointAV(nn.Module):
    """The model-level bundle: an image branch and an audio branch (embeddings), one head."""

    def __init__(self, image: nn.Module, audio: nn.Module) -> None:
        super().__init__()
        self.image, self.audio = image, audio
        self.head = nn.Sequential(nn.Linear(64 + 64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, image: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        _, e_image = self.image(image)
        _, e_audio = self.audio(mfcc)
        return self.head(torch.cat([e_image, e_audio], dim=1))


def _embeddings(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate(
            [model(torch.from_numpy(x[s : s + 512]))[1].numpy() for s in range(0, len(x), 512)]
        )


class _SplitHead(nn.Module):
    """Trains a fusion head on the concatenated embeddings (64 image + 64 audio)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x[:, :64], x[:, 64:])


class _FlatPair(nn.Module):
    """Trains the joint model on flattened (image, audio features) rows."""

    def __init__(self, inner: nn.Module, image_size: int, audio_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.inner, self.split, self.audio_shape = inner, image_size, audio_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        image = x[:, : self.split].reshape(n, 1, 28, 28)
        return self.inner(image, x[:, self.split :].reshape(n, *self.audio_shape))


def _train_single_models(
    data_root: str | Path | None, seed: int, image_train: int, progress: bool
) -> tuple[nn.Module, nn.Module, AVPairs, np.ndarray, np.ndarray]:
    """(image model, audio model, training pairs, their image and audio inputs)."""
    mnist_x, mnist_y = load_mnist("train", data_root)
    rng = np.random.default_rng([seed, 1])
    x_image = pp.image_batch([degrade_image(im, rng) for im in mnist_x[:image_train]], IMAGE_SPEC)
    image_model = tiny_cnn(with_embedding=True)
    train_classifier(
        image_model, x_image, mnist_y[:image_train], epochs=2, seed=seed, progress=progress
    )
    train_pairs = make_pairs("train", data_root, per_recording=2, seed=seed + 1)
    x_audio = np.concatenate([pp.audio(a, AUDIO_SPEC, AUDIO_RATE_HZ) for a in train_pairs.audio])
    audio_model = audio_cnn(num_classes=10, n_features=40, width=16, with_embedding=True)
    train_classifier(
        audio_model,
        x_audio,
        train_pairs.labels,
        epochs=10,
        batch_size=64,
        lr=5e-3,
        seed=seed,
        progress=progress,
    )
    x_pair_image = pp.image_batch(train_pairs.images, IMAGE_SPEC)
    return image_model, audio_model, train_pairs, x_pair_image, x_audio


def _train_fused_models(
    image_model: nn.Module,
    audio_model: nn.Module,
    pairs: AVPairs,
    x_pair_image: np.ndarray,
    x_audio: np.ndarray,
    seed: int,
    progress: bool,
) -> tuple[nn.Module, nn.Module]:
    """(the fusion head over the embeddings, the joint model fine-tuned from both)."""
    head = fusion_head((64, 64), num_classes=10, hidden=64)
    both = np.concatenate(
        [_embeddings(image_model.eval(), x_pair_image), _embeddings(audio_model.eval(), x_audio)],
        axis=1,
    )
    train_classifier(_SplitHead(head), both, pairs.labels, epochs=10, seed=seed, progress=progress)
    joint = JointAV(
        tiny_cnn(with_embedding=True),
        audio_cnn(num_classes=10, n_features=40, width=16, with_embedding=True),
    )
    joint.image.load_state_dict(image_model.state_dict())
    joint.audio.load_state_dict(audio_model.state_dict())
    flat = np.concatenate(
        [x_pair_image.reshape(len(x_pair_image), -1), x_audio.reshape(len(x_audio), -1)], axis=1
    )
    train_classifier(
        _FlatPair(joint, x_pair_image[0].size, x_audio.shape[1:]),
        flat,
        pairs.labels,
        epochs=3,
        batch_size=64,
        lr=1e-3,
        seed=seed,
        progress=progress,
    )
    return head, joint


def train_av_bundles(
    out: str | Path,
    data_root: str | Path | None = None,
    *,
    seed: int = 0,
    image_train: int = 30000,
    progress: bool = True,
) -> dict[str, Path]:
    """Trains and exports av_image, av_audio (single modality, logits + 64-d embedding),
    av_head (fusion head over the embeddings) and av_joint (model level, fine-tuned from the
    two single models' weights), all on training splits only."""
    out = Path(out)
    torch.manual_seed(seed)
    image_model, audio_model, pairs, x_pair_image, x_audio = _train_single_models(
        data_root, seed, image_train, progress
    )
    head, joint = _train_fused_models(
        image_model, audio_model, pairs, x_pair_image, x_audio, seed, progress
    )
    outputs = [ModelOutput("logits", "logits"), ModelOutput("embedding", "embedding")]
    image_input = ModelInput("image", torch.zeros(1, 1, 28, 28), IMAGE_SPEC)
    audio_input = ModelInput("mfcc", torch.zeros(AUDIO_SPEC.tensor_shape()), AUDIO_SPEC)
    embeddings = [
        ModelInput("image_embedding", torch.zeros(1, 64)),
        ModelInput("audio_embedding", torch.zeros(1, 64)),
    ]
    plan: list[tuple[str, nn.Module, list[ModelInput], list[ModelOutput] | None, str]] = [
        ("image", image_model, [image_input], outputs, "image"),
        ("audio", audio_model, [audio_input], outputs, "audio"),
        ("head", head, embeddings, None, "fusion"),
        ("joint", joint, [image_input, audio_input], None, "multimodal"),
    ]
    return {
        key: export_bundle(
            model.eval(),
            out / f"av_{key}.mmb",
            name=f"av_{key}",
            inputs=inputs,
            outputs=outs,
            modality=modality,
            labels=LABELS,
            overwrite=True,
            progress=progress,
        )
        for key, model, inputs, outs, modality in plan
    }


def _sources(test: AVPairs) -> tuple[ImageSequence, AudioArray]:
    slot = round(SLOT_S * AUDIO_RATE_HZ)
    track = np.zeros(slot * len(test), np.float32)
    for k, a in enumerate(test.audio):
        track[k * slot : k * slot + min(slot, len(a))] = a[:slot]
    return (
        ImageSequence(test.images, SLOT_S, name="mnist"),
        AudioArray(track, AUDIO_RATE_HZ, block_ms=100, name="fsdd"),
    )


def evaluate(bundles: dict[str, Path], test: AVPairs) -> dict[str, dict[str, Any]]:
    """Accuracy per method, every one through mmedge.Pipeline over the slot timeline:
    image only, audio only, each late-fusion rule, the learned head, the joint model."""
    window = {"window_s": SLOT_S, "hop_s": SLOT_S}

    def pipeline(kind: str) -> Pipeline:
        image, audio = _sources(test)
        pipe = Pipeline()
        if kind == "model":
            pipe.add("image", image).add("audio", audio, **window)
            return pipe.fuse(
                "model",
                model=bundles["joint"],
                trigger="audio",
                max_skew_ms=100,
                model_inputs={"image": "image", "mfcc": "audio"},
            )
        if kind != "audio":
            pipe.add("image", image, bundles["image"])
        if kind != "image":
            pipe.add("audio", audio, bundles["audio"], **window)
        if kind in ("image", "audio"):
            return pipe.fuse("weighted_mean", trigger=kind)
        if kind == "head":
            return pipe.fuse(
                "head",
                head=bundles["head"],
                trigger="audio",
                max_skew_ms=100,
                head_inputs={"image_embedding": "image", "audio_embedding": "audio"},
            )
        return pipe.fuse(kind, trigger="audio", max_skew_ms=100)

    report = {}
    for kind in ("image", "audio", *LATE_METHODS, "head", "model"):
        pipe = pipeline(kind)
        results = pipe.run()
        slots = [round(r.t_s / SLOT_S) - 1 for r in results]
        correct = [r.index == test.labels[k] for r, k in zip(results, slots, strict=True)]
        stats = pipe.stats()
        report[kind] = {
            "accuracy": float(np.mean(correct)),
            "n": len(results),
            "complete": sorted(slots) == list(range(len(test))),
            "methods": sorted({r.method for r in results}),
            "errors": stats["errors"],
        }
    return report
