"""The built-in demo bundles: image, audio and video models trained on SyntheticScene's
generator (NumPy renderings of the scene's classes), exported with the export toolchain.
scripts/build_bundles.py runs train_scene_bundles() and commits the results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.export.bundle_export import ModelInput, ModelOutput, export_bundle
from mmedge.export.data import Labelled
from mmedge.export.recipes.training import TrainResult, train_classifier
from mmedge.export.zoo import audio_cnn, tiny_cnn, video_r2plus1d
from mmedge.sources.synthetic import LABELS, PITCH_HZ, render_audio, render_frame

LABEL_LIST = list(LABELS)
IMAGE_SPEC = pp.ImageSpec(48, 48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
AUDIO_SPEC = pp.AudioSpec.librosa(
    16000,
    n_fft=512,
    win_length=400,
    hop_length=160,
    n_mels=40,
    analysis_seconds=0.5,
    feature="logmel",
    layout="N1FT",
)
VIDEO_SPEC = pp.VideoSpec(
    8, pp.ImageSpec(32, 32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)), stride=2
)
SCENE_FPS = 15.0


@dataclass
class SceneSamples:
    """Raw generator samples with labels: frames (BGR), 0.5 s audio windows, 15-frame clips."""

    frames: list[np.ndarray]
    audio: list[np.ndarray]
    clips: list[np.ndarray]
    labels: np.ndarray


def generate(
    n: int,
    seed: int,
    *,
    video_noise: tuple[float, float] = (10.0, 50.0),
    audio_noise: tuple[float, float] = (0.02, 0.4),
) -> SceneSamples:
    """n samples per modality with random class, time, phase, colour, pitch and noise."""
    rng = np.random.default_rng(seed)
    frames, audio, clips, labels = [], [], [], []
    clip_frames = VIDEO_SPEC.clip_len * VIDEO_SPEC.stride - (VIDEO_SPEC.stride - 1)
    for _ in range(n):
        label = LABEL_LIST[int(rng.integers(len(LABEL_LIST)))]
        t = float(rng.uniform(0, 60))
        phase = float(rng.uniform(0, 2 * np.pi))
        colour = tuple(rng.uniform(90, 255, 3))
        noise = float(rng.uniform(*video_noise))
        frames.append(render_frame(label, t, rng, phase=phase, colour=colour, noise=noise))
        clips.append(
            np.stack(
                [
                    render_frame(
                        label, t + k / SCENE_FPS, rng, phase=phase, colour=colour, noise=noise
                    )
                    for k in range(clip_frames)
                ]
            )
        )
        pitch = float(rng.uniform(*PITCH_HZ[label]))
        audio.append(
            render_audio(
                label,
                t,
                AUDIO_SPEC.analysis_samples or 8000,
                16000,
                rng,
                pitch=pitch,
                noise=float(rng.uniform(*audio_noise)),
            )
        )
        labels.append(LABEL_LIST.index(label))
    return SceneSamples(frames, audio, clips, np.asarray(labels, np.int64))


@dataclass
class SceneBundles:
    image: Path
    audio: Path
    video: Path
    train: dict[str, TrainResult]


def train_scene_bundles(
    out: str | Path, *, n_train: int = 1200, n_eval: int = 300, seed: int = 0, progress: bool = True
) -> SceneBundles:
    """Trains and exports scene_image (TinyCNN, 48x48), scene_audio (audio CNN over 0.5 s of
    log-mel) and scene_video (R(2+1)D over 8 frames at stride 2), fp32, each evaluated on
    n_eval fresh generator samples."""
    out = Path(out)
    train, held = generate(n_train, seed), generate(n_eval, seed + 1)
    torch.manual_seed(seed)
    results = {}
    paths = {}
    jobs = [
        (
            "image",
            tiny_cnn(in_channels=3, num_classes=3, input_size=48, with_embedding=True),
            IMAGE_SPEC,
            train.frames,
            held.frames,
            lambda xs: pp.image_batch(xs, IMAGE_SPEC),
        ),
        (
            "audio",
            audio_cnn(num_classes=3, n_features=40, width=8, with_embedding=True),
            AUDIO_SPEC,
            train.audio,
            held.audio,
            lambda xs: np.concatenate([pp.audio(x, AUDIO_SPEC) for x in xs]),
        ),
        (
            "video",
            video_r2plus1d(num_classes=3, width=8, with_embedding=True),
            VIDEO_SPEC,
            train.clips,
            held.clips,
            lambda xs: np.concatenate([pp.video_clip(c, VIDEO_SPEC) for c in xs]),
        ),
    ]
    for name, model, spec, train_raw, eval_raw, tensors in jobs:
        results[name] = train_classifier(
            model,
            tensors(train_raw),
            train.labels,
            epochs=8,
            batch_size=64,
            lr=3e-3,
            seed=seed,
            progress=progress,
        )
        example = torch.from_numpy(tensors(train_raw[:1]))
        paths[name] = export_bundle(
            model,
            out / f"scene_{name}.mmb",
            name=f"scene_{name}",
            inputs=[
                ModelInput(
                    {"image": "image", "audio": "logmel", "video": "clip"}[name], example, spec
                )
            ],
            outputs=[ModelOutput("logits", "logits"), ModelOutput("embedding", "embedding")],
            labels=LABEL_LIST,
            modality=name,
            evaluation=Labelled(list(eval_raw), held.labels, LABEL_LIST),
            description=f"{type(model).__name__} trained on {n_train} SyntheticScene {name} "
            f"samples (seed {seed}) by mmedge.export.recipes.scene.train_scene_bundles",
            overwrite=True,
            progress=progress,
            fixture_bytes=1 << 20,
        )
    return SceneBundles(paths["image"], paths["audio"], paths["video"], results)
