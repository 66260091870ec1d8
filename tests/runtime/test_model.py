"""mmedge.Model: predictions through the C++ kernel and ONNX Runtime, describe(), input errors,
and the runtime working with torch (and onnx) absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmedge
from mmedge import BackendError, Model, PreprocessError
from mmedge.demo import sample_frames


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(mmedge.builtin_bundle())


def test_predict_sample_frames(model: Model) -> None:
    frames, labels = sample_frames()
    for frame, truth in zip(frames, labels, strict=True):
        p = model.predict(frame)
        assert p.label == str(truth)
        assert p.index == truth
        assert p.probs.shape == (10,)
        assert abs(float(p.probs.sum()) - 1.0) < 1e-5
        assert p.score == pytest.approx(float(p.probs.max()))
        assert p.latency_ms >= p.preprocess_ms + p.infer_ms > 0


def test_predict_batch_matches_predict(model: Model) -> None:
    frames, _ = sample_frames()
    batch = model.predict_batch(frames)
    assert len(batch) == len(frames)
    for frame, b in zip(frames, batch, strict=True):
        single = model.predict(frame)
        assert b.index == single.index
        np.testing.assert_allclose(b.probs, single.probs, rtol=1e-5, atol=1e-6)


def test_describe_says_what_runs(model: Model) -> None:
    d = model.describe()
    assert d["bundle"] == "mnist_cnn"
    assert d["backend"] == "onnxruntime"
    assert d["artifact"]["format"] == "onnx"
    assert "fastest on this machine" in d["selected_because"]
    assert "CPUExecutionProvider" in d["providers"]
    assert d["preprocess"]["image"]["input_format"] == "GRAY"
    assert d["outputs"] == {"logits": "logits"}
    assert f"{d['artifact']['file']} (onnx {d['artifact']['precision']}) on onnxruntime" in str(
        model
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((28, 28, 3), np.uint8), "has 3 channels, spec.input_format GRAY expects 1"),
        (np.zeros((28, 28), np.float32), "dtype must be uint8, got float32"),
        (np.zeros((28,), np.uint8), "rank 2 .* got shape \\(28,\\)"),
        (np.zeros((0, 28), np.uint8), "empty: 0x28 px"),
    ],
)
def test_bad_input(model: Model, image: np.ndarray, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        model.predict(image)


def test_bad_frame_in_batch_is_named(model: Model) -> None:
    frames = [np.zeros((28, 28), np.uint8), np.zeros((28, 28, 2), np.uint8)]
    with pytest.raises(PreprocessError, match="image 1 has 2 channels"):
        model.predict_batch(frames)


def test_backend_and_precision_errors() -> None:
    with pytest.raises(BackendError, match="unknown backend 'tflite'"):
        Model(mmedge.builtin_bundle(), backend="tflite")
    with pytest.raises(BackendError, match="precision must be one of"):
        Model(mmedge.builtin_bundle(), precision="int4")
    with pytest.raises(BackendError, match=r"has no artifact .model\.int4\.onnx."):
        Model(mmedge.builtin_bundle(), artifact="model.int4.onnx")
    with pytest.raises(BackendError, match=r"providers .* are not available"):
        Model(mmedge.builtin_bundle(), providers=["CUDAExecutionProvider"])


def test_runtime_without_torch() -> None:
    """A fresh interpreter where importing torch, onnx or onnxscript fails: the runtime still
    loads the bundle, preprocesses with the C++ kernel, predicts and runs the demo."""
    script = textwrap.dedent("""
        import sys

        class Blocked:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked for this test")
                return None

        # What `pip install ".[ort]"` does not bring: the demo must run without all of it.
        BLOCKED = {"torch", "onnx", "onnxscript", "cv2", "av", "soundfile", "sounddevice",
                   "matplotlib", "scipy", "librosa"}
        sys.meta_path.insert(0, Blocked())
        import mmedge
        from mmedge.demo import sample_frames
        from mmedge.cli import main

        frames, labels = sample_frames()
        model = mmedge.Model(mmedge.builtin_bundle())
        got = [int(model.predict(f).label) for f in frames]
        assert got == labels.tolist(), got
        assert main(["validate", mmedge.builtin_bundle()]) == 0
        assert main(["demo"]) == 0
        loaded = {m.split(".")[0] for m in sys.modules}
        assert not loaded & BLOCKED, loaded
        print("predicted without torch:", got)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "predicted without torch" in result.stdout


def test_model_on_tar_bundle_cleans_up(tmp_path) -> None:
    """A Model that opened a .tar bundle removes the extracted copy on close; a closed model
    says so instead of crashing."""
    from mmedge import Bundle
    from mmedge.bundle import write_bundle

    src = Bundle.load(mmedge.builtin_bundle())
    tar = write_bundle(tmp_path / "mnist.mmb.tar", src.manifest, src.contents())
    frames, labels = sample_frames()
    with Model(tar) as m:
        assert m.predict(frames[0]).index == labels[0]
        extracted = m.bundle.root
        assert extracted.is_dir()
    assert not extracted.exists()
    with pytest.raises(BackendError, match=r"session of model(\.[a-z0-9-]+)?\.onnx is closed"):
        m.predict(frames[0])
