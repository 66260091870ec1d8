"""Model(..., allow_fallback=True, build_engine='fp16') on a device whose bundle has no engine:
ONNX Runtime answers at once while the engine is built in the background, then the Model runs
the engine from the next call on, with the same answers. The builder and the TensorRT backend
are stand-ins here (the real ones need TensorRT and a GPU): the stand-in build writes an engine
entry into the bundle as `mmedge build-engine` does, the stand-in backend runs the fp32 ONNX
on ONNX Runtime and counts its calls. A failed build leaves ONNX Runtime serving and says why."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.bundle import Bundle
from mmedge.bundle.writer import write_bundle
from mmedge.runtime import engine_swap
from mmedge.runtime import model as model_module
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.tensorrt import build as engine_build
from mmedge.runtime.tensorrt.engine import (
    EngineTarget,
    engine_file_name,
    make_profile,
    timing_cache_name,
)

HERE = EngineTarget("10.3.0", "Orin", "8.7", "6.2", "36.4.3", "12.6")


class CountingBackend(OrtBackend):
    """Stands in for the TensorRT backend: the fp32 ONNX on ONNX Runtime, calls counted."""

    calls = 0

    def infer(self, feeds):
        CountingBackend.calls += 1
        return super().infer(feeds)


@pytest.fixture
def mnist_sample(data_dir: Path) -> np.ndarray:
    """One real MNIST test digit (uint8 28x28)."""
    from mmedge.datasets import load_mnist

    images, _ = load_mnist("test", data_dir)
    return images[0]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    copy = tmp_path / "mnist.mmb"
    shutil.copytree(mmedge.builtin_bundle("mnist_cnn"), copy)
    return copy


def _fake_build(release: threading.Event, fail: bool = False):
    def build(source: Path, precision: str) -> tuple[Path, dict]:
        assert release.wait(30)
        if fail:
            raise RuntimeError("out of memory while building")
        with Bundle.load(source) as b:
            file, cache = engine_file_name(precision, HERE), timing_cache_name(HERE)
            entry = engine_build.engine_entry(file, precision, HERE, "model.fp16.onnx",
                                              make_profile(b.inputs, 1, 1, 8), cache)  # fmt: skip
            fp32 = (b.root / "model.onnx").read_bytes()  # the stand-in "plan"
            files = {**b.contents(), file: fp32, cache: b"cache"}
            manifest = engine_build.with_engine(b.manifest, entry, cache)
        return write_bundle(source, manifest, files, overwrite=True), entry

    return build


def _stand_ins(monkeypatch, release: threading.Event, fail: bool = False) -> None:
    monkeypatch.setattr(model_module, "available_backends", lambda: ["tensorrt", "ort"])
    monkeypatch.setattr(engine_swap, "_add_engine", _fake_build(release, fail))
    monkeypatch.setattr(engine_swap, "create_backend",
                        lambda name, path: CountingBackend(path))  # fmt: skip


def test_onnx_runtime_serves_until_the_engine_is_built(bundle, monkeypatch, mnist_sample) -> None:
    release = threading.Event()
    _stand_ins(monkeypatch, release)
    CountingBackend.calls = 0
    x = mnist_sample
    with mmedge.Model(bundle, backend="ort", precision="fp32", allow_fallback=True,
                      build_engine="fp16") as model:  # fmt: skip
        first = model.predict(x)  # answered while the build waits
        assert model.backend_name == "ort" and CountingBackend.calls == 0
        assert model.describe()["engine_build"] == {
            "precision": "fp16", "state": "building", "error": None,
        }  # fmt: skip
        release.set()
        assert model.engine_build is not None and model.engine_build.wait(30)
        assert model.engine_build.state == "switched"
        second = model.predict(x)
        assert model.backend_name == "tensorrt" and CountingBackend.calls == 1
        assert model.artifact.file == "engines/fp16-sm87-trt10.3.0.plan"
        np.testing.assert_allclose(second.probs, first.probs, atol=1e-6)
        assert model.describe()["selected_because"].startswith("a TensorRT engine built here")


def test_a_failed_build_leaves_onnx_runtime_serving(bundle, monkeypatch, mnist_sample) -> None:
    release = threading.Event()
    release.set()
    _stand_ins(monkeypatch, release, fail=True)
    with mmedge.Model(bundle, backend="ort", allow_fallback=True, build_engine="fp16") as model:
        assert model.engine_build is not None and model.engine_build.wait(30)
        assert model.describe()["engine_build"]["state"] == "failed"
        assert "out of memory while building" in model.describe()["engine_build"]["error"]
        assert model.backend_name == "ort"
        assert model.predict(mnist_sample).label in model.labels


def test_without_tensorrt_nothing_is_built(bundle) -> None:
    with mmedge.Model(bundle, backend="ort", build_engine="fp16") as model:
        assert model.engine_build is None and "engine_build" not in model.describe()
