"""A detection modality fused with a classifier, for real: digits moving in a DigitScene, the
built-in detector tracking them, and a spoken-digit model (the FSDD CNN, trained on other takes)
hearing one of the two digits: that digit's boxes and tracks gain score by exactly the evidence
(mmedge.pipeline.detection_fusion), the other's lose it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.datasets import load_mnist, read_wav
from mmedge.sources import AudioArray
from mmedge.sources.digit_scene import DigitScene


@pytest.fixture(scope="module")
def spoken_digits(fsdd_cnn_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FSDD audio CNN (trained on takes 5-49) as an fp32 bundle with labels 0-9."""
    torch = pytest.importorskip("torch")
    from mmedge.export import export_bundle
    from mmedge.export.presets import PRESETS
    from mmedge.export.recipes import fsdd_cnn

    spec = PRESETS["fsdd-mfcc"]
    model = fsdd_cnn()
    model.load_state_dict(torch.load(fsdd_cnn_weights, weights_only=True))
    return export_bundle(
        model, tmp_path_factory.mktemp("voice") / "digits.mmb", name="spoken_digits",
        example_input=torch.zeros(spec.tensor_shape()), input_name="mfcc", preprocess=spec,
        labels=[str(d) for d in range(10)], modality="audio", precisions=("fp32",),
        progress=False,
    )  # fmt: skip


def test_a_spoken_digit_raises_its_tracks_and_lowers_the_others(
    spoken_digits: Path, data_dir: Path
) -> None:
    heard, other = 3, 7
    images, labels = load_mnist("test", data_dir)
    glyphs = [(d, images[np.flatnonzero(labels == d)[0]] / 255.0) for d in (heard, other)]
    scene = DigitScene(3.0, digits=2, seed=1, glyphs=glyphs)  # type: ignore[arg-type]
    speech, rate = read_wav(data_dir / "fsdd" / "recordings" / f"{heard}_jackson_0.wav")
    track = np.zeros(int(3.0 * rate), np.float32)
    for start in (0.2, 1.2, 2.2):  # said three times
        i = int(start * rate)
        track[i : i + len(speech)] = speech[: len(track) - i]
    pipe = (
        mmedge.Pipeline()
        .add("cam", scene.video, mmedge.builtin_bundle("digit_detector"), track=True)
        .add("voice", AudioArray(track, rate), spoken_digits)
        .fuse("log_linear", trigger="cam", max_skew_ms=600)
    )
    results = pipe.run(timeout_s=120)
    assert len(results) == scene.frames
    moved = {heard: [], other: []}
    for r in results:
        if "cam" not in r.rescored:
            continue
        voice = next(c for c in r.contributors if c.modality == "voice")
        own, new = r.detections["cam"], r.rescored["cam"]
        np.testing.assert_array_equal(new.track_ids, own.track_ids)
        shift = np.log(new.scores / (1 - new.scores)) - np.log(own.scores / (1 - own.scores))
        said = own.class_ids == int(voice.label)
        # one classifier: its probabilities are the evidence, so the top class moves by log(10 p)
        np.testing.assert_allclose(shift[said], np.log(10 * voice.score), atol=2e-3)
        for d in moved:
            moved[d] += list(shift[own.class_ids == d])
    assert len(moved[heard]) > 10 and len(moved[other]) > 10, moved
    assert min(moved[heard]) > 1.0  # the heard digit's boxes (and tracks): odds up > e-fold
    assert max(moved[other]) < -1.0  # the unheard one's: down
