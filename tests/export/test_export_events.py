"""Exporting an audio event detector: a small frame-level model over log-mel frames of any length
(AudioSpec without an analysis window: the time axis is symbolic) with an EventHead in the
manifest; Model.predict on a real recording returns the AudioEvents the head decodes from the
PyTorch model's own frame scores; a head that does not fit is refused when the bundle loads;
event F1 (the accuracy gate) is sed_eval's on a hand-counted case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mmedge
from mmedge import preprocess as pp
from mmedge.datasets import read_wav
from mmedge.errors import BundleError
from mmedge.export import export_bundle
from mmedge.tasks.event_head import EventHead
from mmedge.tasks.events import AudioEvents

SPEC = pp.AudioSpec.librosa(
    16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, fmax=8000.0, feature="logmel",
    layout="NFT",
)  # fmt: skip
LABELS = ["speech", "loud"]
HEAD = EventHead(frame_s=0.02, onset_threshold=0.5, offset_threshold=0.35, median_frames=5,
                 min_duration_s=0.06, min_gap_s=0.04, output="frames")  # fmt: skip


class FrameScorer(nn.Module):
    """(1, 40, T) log-mel (dB) -> (1, T / 2, 2) logits at 20 ms: 'speech' where the mean level
    over the bands rises above the silence floor, 'loud' where it rises further (fixed weights:
    a level detector, so the recordings' words are events)."""

    def __init__(self) -> None:
        super().__init__()
        self.level = nn.Conv1d(40, 1, 5, padding=2)
        self.score = nn.Conv1d(1, 2, 3, stride=2, padding=1)
        with torch.no_grad():
            self.level.weight.fill_(1.0 / 200)  # the mean over 40 bands x 5 frames
            self.level.bias.fill_(8.0)  # dB / 10: silence about -8, speech above -5
            self.score.weight.fill_(1.0 / 3)
            self.score.bias.copy_(torch.tensor([-3.0, -4.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(torch.relu(self.level(x / 10.0))).transpose(1, 2)


@pytest.fixture(scope="module")
def recordings(data_dir: Path) -> list[tuple[np.ndarray, int]]:
    folder = data_dir / "fsdd" / "recordings"
    clips = [read_wav(folder / f"{d}_george_{k}.wav") for d, k in ((3, 0), (7, 1), (1, 2))]
    silence = np.zeros(4000, np.float32)  # 0.25 s between the words
    joined = np.concatenate([x for s, _ in clips for x in (silence, s)] + [silence])
    return [(joined, clips[0][1]), *clips]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_bundle(
        FrameScorer().eval(), tmp_path_factory.mktemp("events") / "events.mmb", name="events",
        example_input=torch.zeros(1, 40, 101), preprocess=SPEC, output_name="frames",
        labels=LABELS, task="audio_events", heads=[HEAD], precisions=("fp32", "fp16"),
        progress=False,
    )  # fmt: skip


def test_predict_returns_the_events_of_the_models_frames(exported: Path, recordings) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["task"] == "audio_events" and manifest["heads"][0]["frame_s"] == 0.02
    assert manifest["outputs"][0]["kind"] == "event_frames"
    samples, rate = recordings[0]
    reference = FrameScorer().eval()
    with mmedge.Model(exported, precision="fp32") as model:
        found = model.predict(samples, sample_rate=rate)
        features = model.preprocess(samples, sample_rate=rate)[model.input_name]
    assert isinstance(found, AudioEvents) and len(found) >= 2
    with torch.inference_mode():
        scores = reference(torch.from_numpy(features)).numpy()[0]
    expected = HEAD.decode(scores, LABELS)
    np.testing.assert_allclose(found.onsets_s, expected.onsets_s, atol=1e-9)
    np.testing.assert_allclose(found.offsets_s, expected.offsets_s, atol=1e-9)
    assert found.labels == expected.labels
    assert found.offsets_s[-1] <= len(samples) / rate + HEAD.frame_s
    for samples, rate in recordings[1:]:  # other lengths; fp16 finds the same words
        with mmedge.Model(exported, precision="fp32") as fp32:
            a = fp32.predict(samples, sample_rate=rate)
        with mmedge.Model(exported, precision="fp16") as fp16:
            b = fp16.predict(samples, sample_rate=rate)
        assert len(a) >= 1 and a.labels == b.labels
        np.testing.assert_allclose(a.onsets_s, b.onsets_s, atol=HEAD.frame_s + 1e-9)


def test_a_head_that_does_not_fit_is_refused(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.mmb"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["labels"] = ["speech", "loud", "music"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="has 2 classes per frame; the bundle has 3 labels"):
        mmedge.Model(copy)


def test_event_f1_counts_as_sed_eval_defines_it() -> None:
    """Two clips, four true events; found: one within the collars, one 0.3 s late (onset
    outside the 200 ms collar), one of the wrong class, one right: 2 of 4 found, 2 of 4
    right: precision = recall = F1 = 0.5."""
    pytest.importorskip("sed_eval")
    from mmedge.export.event_gate import event_f1

    truth = [[(0.5, 1.0, 0), (2.0, 2.6, 1)], [(0.2, 0.8, 1), (1.5, 2.0, 0)]]

    def events(rows: list[tuple[float, float, int]]) -> AudioEvents:
        return AudioEvents(
            np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows], np.int32), tuple(LABELS[r[2]] for r in rows),
            np.ones(len(rows), np.float32), np.zeros(len(rows), bool),
        )  # fmt: skip

    found = [events([(0.55, 1.05, 0), (2.3, 2.6, 1)]), events([(0.2, 0.8, 0), (1.45, 1.95, 0)])]
    scores = event_f1(found, truth, LABELS)
    assert scores == pytest.approx({"f_measure": 0.5, "precision": 0.5, "recall": 0.5})


def test_conv_reach_is_how_far_a_frame_looks() -> None:
    """zoo_sed.conv_reach (the EventHead's context_s, in feature rows) on TinySED: 63 rows. An
    input row 63 before an output frame's first row or 62 after its last moves that frame; one
    row further moves nothing (checked on random input with large perturbations)."""
    from mmedge.export.zoo_sed import TinySED, conv_reach

    model = TinySED().eval()
    assert conv_reach(model) == 63
    torch.manual_seed(0)
    x = torch.randn(1, 40, 400)
    j = 100  # output frame j covers rows 2j and 2j + 1
    with torch.no_grad():
        base = model(x)[0, j]

        def moved(row: int) -> float:
            y = x.clone()
            y[0, :, row] += 50.0
            return float((model(y)[0, j] - base).abs().max())

        assert moved(2 * j - 63) > 0 and moved(2 * j + 1 + 62) > 0
        assert moved(2 * j - 64) == 0 and moved(2 * j + 1 + 63) == 0
