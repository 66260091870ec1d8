"""Which artifact runs where, and why: by file, by precision, the fastest that passed its gates
(measured once, then cached), never one whose parity failed, never the uint8-activation int8
form on a GPU provider, and clear errors for unknown backends and precisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mmedge
from mmedge.bundle import Bundle, write_bundle
from mmedge.errors import BackendError
from mmedge.runtime.backends import BACKENDS, backend_for, create_backend
from mmedge.runtime.selection import select_artifact

MNIST = mmedge.builtin_bundle("mnist_cnn")
CPU = {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1}


@pytest.fixture
def mnist() -> Bundle:
    with Bundle.load(MNIST) as bundle:
        yield bundle


def test_by_file_and_by_precision(mnist: Bundle) -> None:
    chosen = select_artifact(mnist, artifact="model.fp16.onnx", backend_options=CPU)
    assert (chosen.backend, chosen.artifact.file) == ("ort", "model.fp16.onnx")
    assert chosen.reason == "requested by file name"
    int8 = select_artifact(mnist, precision="int8", backend_options=CPU)
    assert int8.artifact.precision == "int8"
    assert int8.reason.startswith("int8: fastest on this machine")
    assert "model.int8.onnx" in int8.reason and "model.int8-u8.onnx" in int8.reason


def test_the_fastest_is_measured_once_then_cached(mnist: Bundle) -> None:
    first = select_artifact(mnist, backend_options=CPU)
    assert "measured now" in first.reason or "stored in the bundle" in first.reason
    again = select_artifact(mnist, backend_options=CPU)
    assert again.artifact.file == first.artifact.file
    assert "measured now" not in again.reason


def test_gpu_providers_never_get_the_uint8_activation_form(mnist: Bundle) -> None:
    gpu = {"providers": ["CUDAExecutionProvider"]}
    chosen = select_artifact(mnist, precision="int8", backend_options=gpu)
    assert chosen.artifact.file == "model.int8.onnx"
    assert chosen.artifact.activations == "int8"
    assert chosen.reason == "the only matching artifact"


def test_an_artifact_that_failed_parity_is_never_chosen(tmp_path: Path, mnist: Bundle) -> None:
    manifest = json.loads(json.dumps(mnist.manifest))
    manifest["reports"]["parity"]["model.fp16.onnx"]["passed"] = False
    failed = write_bundle(tmp_path / "m.mmb", manifest, mnist.contents())
    with Bundle.load(failed) as bundle:
        assert bundle.parity("model.fp16.onnx").passed is False
        with pytest.raises(BackendError, match="no artifact for backend 'auto' at precision fp16"):
            select_artifact(bundle, precision="fp16", backend_options=CPU)


def test_bad_requests(mnist: Bundle) -> None:
    with pytest.raises(BackendError, match="unknown backend 'onnx'"):
        select_artifact(mnist, "onnx")
    with pytest.raises(BackendError, match="precision must be one of"):
        select_artifact(mnist, precision="int4")
    with pytest.raises(BackendError, match=r"has no artifact 'model\.plan'"):
        select_artifact(mnist, artifact="model.plan")


def test_the_registry_says_who_runs_what() -> None:
    assert list(BACKENDS)[:2] == ["tensorrt", "ort"]  # 'auto' order
    assert backend_for("onnx", ["tensorrt", "ort"]) == "ort"
    assert backend_for("tensorrt", ["ort"]) is None
    with pytest.raises(BackendError, match="the tensorrt backend takes \\['device_id'\\]"):
        create_backend("tensorrt", "x.plan", providers=["CPUExecutionProvider"])
    with pytest.raises(BackendError, match="unknown backend 'tvm'"):
        create_backend("tvm", "x.so")


def test_a_new_backend_is_one_registry_entry(mnist: Bundle) -> None:
    """A backend registered ahead of ONNX Runtime for ONNX artifacts is what 'auto' picks."""
    from mmedge.runtime.backends import BackendEntry, register_backend

    opened: list[str] = []

    def open_fake(path, **options):
        opened.append(Path(path).name)
        return create_backend("ort", path, providers=["CPUExecutionProvider"])

    register_backend(
        BackendEntry("fake", ("onnx",), lambda: True, open_fake, options=()), before=["ort"]
    )
    try:
        assert list(BACKENDS).index("fake") == list(BACKENDS).index("ort") - 1
        with mmedge.Model(mnist, precision="fp32") as model:
            assert model.backend_name == "fake" and opened == ["model.onnx"]
    finally:
        BACKENDS.pop("fake")
