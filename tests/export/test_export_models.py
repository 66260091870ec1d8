"""The reference models of mmedge.export.zoo through export and mmedge.Model: multi-output
(logits + embedding), multi-input (fusion head, a jointly trained audio-visual model), audio with
a dynamic time axis and resampling, video clips and frame-by-frame prediction. Every prediction
is checked against the PyTorch model on the same preprocessed tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmedge
from mmedge import preprocess as pp
from mmedge.export import export_bundle
from mmedge.export.bundle_export import ModelInput, ModelOutput
from mmedge.export.zoo import audio_cnn, crnn, fusion_head, tiny_cnn, video_r2plus1d

AUDIO = pp.AudioSpec.librosa(
    16000,
    n_fft=512,
    win_length=400,
    hop_length=160,
    n_mels=40,
    n_mfcc=40,
    analysis_seconds=0.5,
    feature="mfcc",
    layout="N1FT",
)
LABELS = [f"class {i}" for i in range(10)]


def torch_logits(model: nn.Module, *tensors: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        out = model(*[torch.from_numpy(t) for t in tensors])
    return (out[0] if isinstance(out, tuple) else out).numpy()


def chirp(seconds: float, rate: int, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    f0 = rng.uniform(200, 1500)
    return (
        0.3 * np.sin(2 * np.pi * (f0 + 400 * t) * t) + 0.01 * rng.standard_normal(t.size)
    ).astype(np.float32)


def test_multi_output_audio_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = audio_cnn(n_features=40, width=8, with_embedding=True).eval()
    out = export_bundle(
        model,
        tmp_path / "emb.mmb",
        name="emb",
        inputs=[ModelInput("mfcc", torch.zeros(AUDIO.tensor_shape()), AUDIO)],
        outputs=[ModelOutput("logits", "logits"), ModelOutput("embedding", "embedding")],
        labels=LABELS,
        modality="audio",
        progress=False,
    )
    with mmedge.Model(out) as m:
        assert [(o.name, o.kind) for o in m.outputs] == [
            ("logits", "logits"),
            ("embedding", "embedding"),
        ]
        assert m.inputs[0].layout == "N1FT"
        clip = chirp(0.7, 8000, 1)  # 8 kHz: resampled to the spec's 16 kHz, trimmed to 0.5 s
        p = m.predict(clip, sample_rate=8000)
        features = pp.audio(clip, AUDIO, 8000)
        with torch.inference_mode():
            logits, embedding = model(torch.from_numpy(features))
        np.testing.assert_allclose(p.outputs["logits"], logits[0].numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(
            p.outputs["embedding"], embedding[0].numpy(), atol=1e-4, rtol=1e-4
        )
        assert p.outputs["embedding"].shape == (32,)
        assert p.index == int(logits.argmax())


def test_audio_dynamic_time_axis(tmp_path: Path) -> None:
    """An audio spec without analysis window: the frame axis is exported as dynamic and clips of
    any length run."""
    spec = AUDIO.replace(analysis_seconds=None)
    torch.manual_seed(1)
    model = audio_cnn(n_features=40, width=8).eval()
    out = export_bundle(
        model,
        tmp_path / "dyn.mmb",
        name="dyn",
        inputs=[ModelInput("mfcc", torch.zeros(1, 1, 40, 51), spec)],
        labels=LABELS,
        modality="audio",
        progress=False,
    )
    with mmedge.Model(out) as m:
        assert m.inputs[0].shape == ("batch", 1, 40, "frames")
        for seconds in (0.3, 1.0, 2.2):
            clip = chirp(seconds, 16000, int(seconds * 10))
            p = m.predict(clip, sample_rate=16000)
            expected = torch_logits(model, pp.audio(clip, spec))
            np.testing.assert_allclose(p.outputs["logits"], expected[0], atol=1e-4, rtol=1e-4)


def test_crnn_gru_export(tmp_path: Path) -> None:
    """A bidirectional GRU (exporters have shipped silent GRU bugs; the parity gate checks)."""
    spec = AUDIO.replace(feature="logmel", layout="NTF")
    torch.manual_seed(2)
    model = crnn(n_features=40, width=16, hidden=16).eval()
    out = export_bundle(
        model,
        tmp_path / "crnn.mmb",
        name="crnn",
        inputs=[ModelInput("logmel", torch.zeros(spec.tensor_shape()), spec)],
        labels=LABELS,
        modality="audio",
        precisions=("fp32", "fp16"),
        progress=False,
    )
    with mmedge.Model(out, precision="fp32") as m:
        clip = chirp(0.5, 16000, 3)
        expected = torch_logits(model, pp.audio(clip, spec))
        np.testing.assert_allclose(
            m.predict(clip, sample_rate=16000).outputs["logits"], expected[0], atol=1e-4
        )
    bundle = mmedge.Bundle.load(out)
    assert bundle.reports["parity"]["model.fp16.onnx"]["passed"]


def test_video_clip_and_frame_by_frame(tmp_path: Path, video_frames: list[np.ndarray]) -> None:
    spec = pp.VideoSpec(3, pp.ImageSpec(32, 32), stride=2)
    torch.manual_seed(3)
    model = video_r2plus1d(num_classes=10, width=8).eval()
    out = export_bundle(
        model,
        tmp_path / "video.mmb",
        name="video",
        inputs=[ModelInput("clip", torch.zeros(spec.clip_shape), spec)],
        labels=LABELS,
        modality="video",
        progress=False,
    )
    frames = video_frames[:5]  # real 768x576 BGR frames; stride 2 takes frames 0, 2, 4
    with mmedge.Model(out) as m:
        assert m.inputs[0].layout == "NCTHW"
        clip_result = m.predict(np.stack(frames))
        streamed = [m.predict_frame(f) for f in frames]
        assert [s is None for s in streamed] == [True] * 4 + [False]
        expected = torch_logits(model, pp.video_clip(frames, spec))
        np.testing.assert_allclose(clip_result.outputs["logits"], expected[0], atol=1e-4)
        np.testing.assert_allclose(streamed[-1].outputs["logits"], expected[0], atol=1e-4)
        with pytest.raises(mmedge.PreprocessError, match="clip has 3 frames; the model needs 5"):
            m.predict(np.stack(frames[:3]))


def test_fusion_head_tensor_inputs(tmp_path: Path) -> None:
    torch.manual_seed(4)
    head = fusion_head((16, 32), num_classes=10, hidden=16).eval()
    out = export_bundle(
        head,
        tmp_path / "fusion.mmb",
        name="fusion",
        inputs=[
            ModelInput("image_embedding", torch.zeros(1, 16)),
            ModelInput("audio_embedding", torch.zeros(1, 32)),
        ],
        labels=LABELS,
        modality="fusion",
        precisions=("fp32", "fp16"),
        progress=False,
    )
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(32).astype(np.float32)
    with mmedge.Model(out, precision="fp32") as m:
        assert [t.name for t in m.inputs] == ["image_embedding", "audio_embedding"]
        p = m.predict({"image_embedding": a, "audio_embedding": b})
        np.testing.assert_allclose(
            p.outputs["logits"], torch_logits(head, a[None], b[None])[0], atol=1e-5
        )
        with pytest.raises(mmedge.PreprocessError, match="pass a mapping of input name"):
            m.predict(a)
        with pytest.raises(mmedge.PreprocessError, match="takes float32 tensors, got float64"):
            m.predict({"image_embedding": a.astype(np.float64), "audio_embedding": b})


class JointAV(nn.Module):
    """A jointly trained audio-visual model: an image branch and an audio branch, one head."""

    def __init__(self) -> None:
        super().__init__()
        self.image = tiny_cnn()
        self.audio = audio_cnn(n_features=40, width=8)
        self.head = nn.Linear(20, 10)

    def forward(self, image: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image(image), self.audio(mfcc)], dim=1))


def test_multi_input_model_with_its_own_specs(tmp_path: Path) -> None:
    image_spec = pp.ImageSpec(28, 28, input_format="GRAY", output_format="GRAY")
    torch.manual_seed(5)
    model = JointAV().eval()
    out = export_bundle(
        model,
        tmp_path / "av.mmb",
        name="av",
        inputs=[
            ModelInput("image", torch.zeros(1, 1, 28, 28), image_spec),
            ModelInput("mfcc", torch.zeros(AUDIO.tensor_shape()), AUDIO),
        ],
        labels=LABELS,
        modality="multimodal",
        progress=False,
    )
    bundle = mmedge.Bundle.load(out)
    assert bundle.preprocess("image") == image_spec
    assert bundle.preprocess("mfcc") == AUDIO
    frame = np.random.default_rng(6).integers(0, 256, (40, 30), dtype=np.uint8)
    clip = chirp(0.5, 16000, 6)
    with mmedge.Model(bundle) as m:
        p = m.predict({"image": frame, "mfcc": clip}, sample_rate=16000)
        batch = m.predict_batch([{"image": frame, "mfcc": clip}] * 3, sample_rates=[16000] * 3)
    expected = torch_logits(model, pp.image(frame, image_spec), pp.audio(clip, AUDIO))
    np.testing.assert_allclose(p.outputs["logits"], expected[0], atol=1e-4)
    for q in batch:
        np.testing.assert_allclose(q.probs, p.probs, atol=1e-6)
