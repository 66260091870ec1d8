"""Feature-level (a fusion head over embeddings) and model-level (a jointly trained bundle fed
aligned raw windows) fusion through mmedge.Pipeline, with bundles exported here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmedge
from mmedge import Pipeline
from mmedge.export import export_bundle
from mmedge.export.bundle_export import ModelInput
from mmedge.export.recipes.scene import AUDIO_SPEC, IMAGE_SPEC, LABEL_LIST
from mmedge.export.zoo import audio_cnn, fusion_head, tiny_cnn
from mmedge.sources import SyntheticScene

IMAGE, AUDIO = (mmedge.builtin_bundle(f"scene_{m}") for m in ("image", "audio"))


@pytest.fixture(scope="module")
def scene_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fusion head over the scene bundles' embeddings (image 64-d, audio 32-d), untrained:
    the pipeline's plumbing is what is tested."""
    torch.manual_seed(0)
    head = fusion_head((64, 32), num_classes=3, hidden=16)
    return export_bundle(
        head,
        tmp_path_factory.mktemp("head") / "head.mmb",
        name="head",
        inputs=[
            ModelInput("image_embedding", torch.zeros(1, 64)),
            ModelInput("audio_embedding", torch.zeros(1, 32)),
        ],
        labels=LABEL_LIST,
        modality="fusion",
        progress=False,
    )


def test_feature_level_fusion_with_a_head(scene_head: Path) -> None:
    scene = SyntheticScene(4, seed=1)
    head = mmedge.Model(scene_head)
    pipe = (
        Pipeline()
        .add("image", scene.video, IMAGE, every_n=3)
        .add("audio", scene.audio, AUDIO)
        .fuse(
            "head",
            head=head,
            head_inputs={"image_embedding": "image", "audio_embedding": "audio"},
            trigger="image",
            max_skew_ms=400,
        )
    )
    results = pipe.run()
    full = [r for r in results if r.method == "head"]
    assert full and all(not r.missing for r in full)
    r = full[-1]
    image, audio = ({c.modality: c for c in r.contributors}[m] for m in ("image", "audio"))
    assert image.weight == audio.weight == 0.5
    early = [r for r in results if r.t_s < 0.45]  # before the first audio window ends
    assert early and all(r.method == "head->log_linear" and "audio" in r.missing for r in early)
    head.close()


class JointScene(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = tiny_cnn(in_channels=3, num_classes=8, input_size=48)
        self.audio = audio_cnn(num_classes=8, n_features=40, width=4)
        self.head = nn.Linear(16, 3)

    def forward(self, image: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image(image), self.audio(logmel)], 1))


def test_model_level_fusion_feeds_aligned_raw_inputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    joint = JointScene().eval()
    bundle = export_bundle(
        joint,
        tmp_path / "joint.mmb",
        name="joint",
        inputs=[
            ModelInput("image", torch.zeros(1, 3, 48, 48), IMAGE_SPEC),
            ModelInput("logmel", torch.zeros(AUDIO_SPEC.tensor_shape()), AUDIO_SPEC),
        ],
        labels=LABEL_LIST,
        modality="multimodal",
        progress=False,
    )
    scene = SyntheticScene(3, seed=4)
    pipe = (
        Pipeline()
        .add("camera", scene.video)  # no bundle: raw frames for the joint model
        .add("mic", scene.audio)
        .fuse(
            "model",
            model=bundle,
            model_inputs={"image": "camera", "logmel": "mic"},
            trigger="mic",
            max_skew_ms=200,
        )
    )
    results = pipe.run()
    assert results and all(r.method == "model" for r in results)
    # The joint model saw exactly the newest frame and audio window at each trigger.
    r = results[2]
    cam, mic = ({c.modality: c for c in r.contributors}[m] for m in ("camera", "mic"))
    frame = scene.frame(round(cam.t_start_s * scene.fps))
    start = round(mic.t_start_s * 16000)
    chunks = [scene.samples(k * 1600, 1600) for k in range(30)]  # as the source delivered them
    window = np.concatenate(chunks)[start : start + 8000]
    with torch.inference_mode():
        logits = joint(
            torch.from_numpy(mmedge.preprocess.image(frame, IMAGE_SPEC)),
            torch.from_numpy(mmedge.preprocess.audio(window, AUDIO_SPEC)),
        )
    np.testing.assert_allclose(r.probs, torch.softmax(logits, 1)[0].numpy(), atol=1e-4)
