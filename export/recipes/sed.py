"""Trains the zoo's sound event detector (TinySED) on spoken digits in real background sound
(sound_events.make_event_split) and exports it with its EventHead: the features come from the
bundle's own AudioSpec (mmedge's log-mel kernels, as deployment computes them) and the frame
targets from the events' exact times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmedge import preprocess as pp
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import EventLabelled
from mmedge.export.event_gate import event_f1
from mmedge.export.recipes.training import TrainResult, fit
from mmedge.export.zoo_sed import FRAME_S, TinySED, conv_reach
from mmedge.tasks.event_head import EventHead

SED_SPEC = pp.AudioSpec.librosa(
    8000,
    n_fft=256,
    win_length=200,
    hop_length=80,
    n_mels=40,
    fmax=4000.0,
    feature="logmel",
    layout="NFT",
    top_db=None,
)  # fmt: skip  (10 ms frames of any number: no analysis window; no top_db: streams take it)
SED_HEAD = EventHead(
    frame_s=FRAME_S, output="frames", onset_threshold=0.5, offset_threshold=0.3,
    median_frames=5, min_duration_s=0.1, min_gap_s=0.1,
)  # fmt: skip


def features(data: EventLabelled, spec: pp.AudioSpec = SED_SPEC) -> np.ndarray:
    """(N, mels, T) log-mel of the recordings (all of one length) by the bundle's spec."""
    return spec.apply_batch(data.samples, sample_rates=data.sample_rates)


def frame_targets(data: EventLabelled, frames: int, classes: int) -> np.ndarray:
    """(N, frames, classes) 1 where an event of that class holds the output frame's centre
    (t x FRAME_S: the stride-2 frame's centre on the centred 10 ms log-mel frames)."""
    out = np.zeros((len(data), frames, classes), np.float32)
    centres = np.arange(frames) * FRAME_S
    for i, events in enumerate(data.events):
        for onset, offset, c in events:
            out[i, (centres >= onset) & (centres < offset), c] = 1.0
    return out


def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment-style: per clip, one band of up to 8 mel bands masked to the clip's floor,
    and a level shift of -6..+6 dB (training only)."""
    x = x.clone()
    for i in range(len(x)):
        width = int(rng.integers(0, 9))
        start = int(rng.integers(0, x.shape[1] - width + 1))
        x[i, start : start + width] = x[i].min()
        x[i] += float(rng.uniform(-6.0, 6.0))
    return x


def train_sed(
    data: EventLabelled,
    *,
    epochs: int = 12,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TinySED, TrainResult]:
    """Adam, one-cycle schedule, binary cross-entropy per frame and class (positives weighted
    up: a class is active in a few percent of the frames), augment() on every batch. Seeded."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)  # the augmentation's draws
    x_all = torch.from_numpy(features(data))
    model = TinySED(len(data.label_names))
    with torch.no_grad():
        frames = model(x_all[:1]).shape[1]
    y_all = torch.from_numpy(frame_targets(data, frames, len(data.label_names)))
    weight = torch.tensor(5.0)

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        logits = model(augment(x_all[idx], rng))
        return F.binary_cross_entropy_with_logits(logits, y_all[idx], pos_weight=weight)

    result = fit(model, len(data), loss_of, epochs=epochs, batch_size=batch_size, lr=lr,
                 seed=seed, desc="train sed", progress=progress)  # fmt: skip
    return model, result


def torch_f1(model: torch.nn.Module, data: EventLabelled) -> dict[str, float]:
    """Event F1 of the PyTorch model's frames through SED_HEAD (the export's reference)."""
    with torch.inference_mode():
        scores = model(torch.from_numpy(features(data))).numpy()
    found = [SED_HEAD.decode(s, data.label_names) for s in scores]
    return event_f1(found, data.events, data.label_names)


def export_sed(
    model: torch.nn.Module,
    out: str | Path,
    *,
    calibration: EventLabelled,
    evaluation: EventLabelled,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    max_accuracy_drop: float = 3.0,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """The detector as a bundle: SED_SPEC and SED_HEAD in the manifest (with the network's
    context_s, zoo_sed.conv_reach, for live streams), parity on the frame scores per precision,
    event F1 on `evaluation` (int8 within max_accuracy_drop points)."""
    example = torch.from_numpy(features(evaluation.subset([0])))
    row_s = SED_SPEC.hop_length / SED_SPEC.sample_rate_hz
    head = replace(SED_HEAD, context_s=round(conv_reach(model) * row_s, 6))
    return export_bundle(
        model,
        out,
        name="digit_events",
        example_input=example,
        preprocess=SED_SPEC,
        input_name="audio",
        output_name="frames",
        labels=evaluation.label_names,
        task="audio_events",
        heads=[head],
        description=(
            "TinySED (export.zoo_sed) trained on FSDD digits of four speakers placed into a real "
            "bird recording (export.recipes.sound_events); evaluated on an unseen speaker "
            "(lucas)"
        ),
        precisions=precisions,
        calibration=calibration,
        evaluation=evaluation,
        max_accuracy_drop=max_accuracy_drop,
        progress=progress,
        overwrite=overwrite,
    )
