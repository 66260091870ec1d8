"""fp16 and int8 export on real data (MNIST): accuracy through mmedge.Model on the 10,000 test
images, the graphs TensorRT expects, the int8 accuracy gate with per-layer sensitivity, onnxslim,
and artifact selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import mmedge
from mmedge import ParityError
from mmedge.datasets import load_mnist
from mmedge.export import bundle_export as bundle_export_module
from mmedge.export import export_bundle
from mmedge.export.data import Labelled
from mmedge.export.quantize import AccuracyGateError
from mmedge.export.recipes import MNIST_LABELS, MNIST_SPEC, train_mnist
from mmedge.export.recipes.training import train_classifier
from mmedge.export.zoo import tiny_cnn
from mmedge.preprocess import image_batch
from mmedge.runtime.validate import validate_bundle


@pytest.fixture(scope="module")
def mnist_all(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The MNIST recipe (1 epoch on 60k images) exported at fp32, fp16 and int8."""
    out = tmp_path_factory.mktemp("mnist") / "mnist.mmb"
    return train_mnist(
        out, data_root=data_dir, epochs=1, precisions=("fp32", "fp16", "int8"), progress=False
    )


@pytest.fixture(scope="module")
def mnist_test(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("test", data_dir)


def predictions(bundle: Path, artifact: str, images: np.ndarray) -> np.ndarray:
    with mmedge.Model(bundle, artifact=artifact, providers=["CPUExecutionProvider"]) as model:
        return np.concatenate(
            [
                [p.index for p in model.predict_batch(images[s : s + 1000])]
                for s in range(0, len(images), 1000)
            ]
        )


def test_accuracy_of_every_precision(mnist_all, mnist_test) -> None:
    images, labels = mnist_test
    manifest = json.loads((mnist_all.bundle / "manifest.json").read_text())
    accuracy = manifest["reports"]["accuracy"]
    assert accuracy["n_samples"] == 10000
    with torch.inference_mode():
        reference = (
            mnist_all.model(torch.from_numpy(image_batch(images, MNIST_SPEC))).argmax(1).numpy()
        )
    got = {a: predictions(mnist_all.bundle, a, images) for a in accuracy["artifacts"]}
    fp32 = float((got["model.onnx"] == labels).mean())
    assert fp32 > 0.95
    for artifact, pred in got.items():
        measured = float((pred == labels).mean())
        assert measured == pytest.approx(accuracy["artifacts"][artifact], abs=1e-9)
    # The acceptance bounds: int8 within 0.5 points of fp32, fp16 agreeing with PyTorch >= 99.9%.
    for artifact in ("model.int8.onnx", "model.int8-u8.onnx"):
        assert abs(fp32 - (got[artifact] == labels).mean()) <= 0.005, artifact
    assert (got["model.fp16.onnx"] == reference).mean() >= 0.999
    assert (got["model.onnx"] == reference).mean() >= 0.9999


def test_graphs_are_what_tensorrt_takes(mnist_all) -> None:
    root = mnist_all.bundle
    fp16 = onnx.load(str(root / "model.fp16.onnx"))
    float_type = onnx.TensorProto.FLOAT
    assert [i.type.tensor_type.elem_type for i in fp16.graph.input] == [float_type]
    assert [o.type.tensor_type.elem_type for o in fp16.graph.output] == [float_type]
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)

    int8 = onnx.load(str(root / "model.int8.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in int8.graph.initializer}
    ops = [n.op_type for n in int8.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    for node in int8.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        weights, scale, zero = (inits.get(n) for n in node.input[:3])
        assert weights.dtype == (np.int32 if weights.ndim == 1 else np.int8)  # biases: int32
        if weights.ndim == 4:  # conv kernels: one scale per output channel, symmetric
            assert scale.shape == (weights.shape[0],)
            assert not np.any(zero)
    for node in int8.graph.node:  # activations: int8 with zero point 0 (symmetric)
        if node.op_type == "QuantizeLinear":
            zero = inits[node.input[2]]
            assert zero.dtype == np.int8 and not np.any(zero)

    u8 = onnx.load(str(root / "model.int8-u8.onnx"))
    u8_inits = {t.name: numpy_helper.to_array(t) for t in u8.graph.initializer}
    activation_zero = [u8_inits[n.input[2]] for n in u8.graph.node if n.op_type == "QuantizeLinear"]
    assert all(z.dtype == np.uint8 for z in activation_zero)


def test_manifest_reports_and_validate(mnist_all) -> None:
    with mmedge.Bundle.load(mnist_all.bundle) as bundle:
        reports = bundle.reports
        for a in bundle.artifacts:
            parity = reports["parity"][a.file]
            assert parity["passed"] and parity["source"] == "evaluation"
            logits = parity["outputs"]["logits"]
            assert logits["n_samples"] == 256
            assert {"max_abs", "mean_abs", "p99_abs", "max_rel", "mean_cosine"} <= set(logits)
            speed = reports["speed"][a.file]
            assert speed["batch"] == 1 and speed["median_ms"] > 0
        q = reports["quantization"]["model.int8.onnx"]
        assert q["method"] == "minmax" and q["calibration_samples"] == 1000
        assert reports["recommendation"]["cpu"]["artifact"] in reports["speed"]
        checks = validate_bundle(bundle, providers=["CPUExecutionProvider"])
        assert [c.artifact for c in checks] == [a.file for a in bundle.artifacts]
        assert all(c.passed for c in checks)


def test_precision_selection(mnist_all) -> None:
    speeds = json.loads((mnist_all.bundle / "manifest.json").read_text())["reports"]["speed"]
    with mmedge.Model(mnist_all.bundle, providers=["CPUExecutionProvider"]) as model:
        fastest = min(speeds, key=lambda f: speeds[f]["median_ms"])
        assert model.artifact.file == fastest  # timings stored by this machine at export
        assert "stored in the bundle by this machine" in model.describe()["selected_because"]
    with mmedge.Model(mnist_all.bundle, precision="fp16") as model:
        assert model.artifact.file == "model.fp16.onnx"
    with mmedge.Model(mnist_all.bundle, precision="int8") as model:
        assert model.artifact.precision == "int8"


def test_selection_times_artifacts_on_another_machine(mnist_all, monkeypatch) -> None:
    """A bundle exported elsewhere: the Model times the candidates here once, then caches."""
    from mmedge.runtime import speed

    monkeypatch.setattr(speed, "machine_id", lambda: "some other cpu, 2 cpus, x86_64")
    with mmedge.Model(mnist_all.bundle, providers=["CPUExecutionProvider"]) as model:
        assert "measured now" in model.selection.reason
    with mmedge.Model(mnist_all.bundle, providers=["CPUExecutionProvider"]) as model:
        assert "cached from an earlier run here" in model.selection.reason


@pytest.fixture(scope="module")
def small_mnist(data_dir: Path) -> tuple[torch.nn.Module, Labelled, Labelled]:
    """A tiny CNN trained for one epoch on 12k images, with calibration and evaluation sets."""
    train_x, train_y = load_mnist("train", data_dir)
    test_x, test_y = load_mnist("test", data_dir)
    torch.manual_seed(0)
    model = tiny_cnn()
    train_classifier(
        model, image_batch(train_x[:12000], MNIST_SPEC), train_y[:12000], epochs=1, progress=False
    )
    calib = Labelled(list(train_x[-500:]), train_y[-500:].astype(np.int64), MNIST_LABELS)
    evaluation = Labelled(list(test_x[:2000]), test_y[:2000].astype(np.int64), MNIST_LABELS)
    return model, calib, evaluation


def int8_hostile(model: torch.nn.Module) -> torch.nn.Module:
    """The same function with one conv channel scaled up 3000x (and the next conv scaled down):
    exact in float, but per-tensor int8 activations of that layer lose every other channel."""
    hostile = tiny_cnn()
    hostile.load_state_dict(model.state_dict())
    with torch.no_grad():
        first, second = hostile.features[0], hostile.features[3]
        first.weight[0] *= 3000.0
        first.bias[0] *= 3000.0
        second.weight[:, 0] /= 3000.0
    return hostile.eval()


def test_int8_gate_keeps_sensitive_layers_in_float(small_mnist, tmp_path: Path) -> None:
    model, calib, evaluation = small_mnist
    out = export_bundle(
        int8_hostile(model),
        tmp_path / "hostile.mmb",
        name="hostile",
        example_input=torch.zeros(1, 1, 28, 28),
        preprocess=MNIST_SPEC,
        labels=MNIST_LABELS,
        precisions=("fp32", "int8"),
        calibration=calib,
        evaluation=evaluation,
        max_accuracy_drop=0.5,
        progress=False,
    )
    reports = json.loads((out / "manifest.json").read_text())["reports"]
    q = reports["quantization"]["model.int8.onnx"]
    sensitivity = {s["node"]: s["accuracy"] for s in q["sensitivity"]}
    assert len(sensitivity) == 4  # two convs, two linears
    assert max(sensitivity.values()) < 0.5  # every layer alone in float still fails...
    assert q["excluded_nodes"]  # ...so several are kept in float, until the bound holds
    acc = reports["accuracy"]["artifacts"]
    assert acc["model.onnx"] - acc["model.int8.onnx"] <= 0.005


def test_int8_gate_fails_with_a_sensitivity_report(small_mnist, tmp_path: Path) -> None:
    model, calib, evaluation = small_mnist
    with pytest.raises(AccuracyGateError, match="Per-layer sensitivity") as info:
        export_bundle(
            int8_hostile(model),
            tmp_path / "hostile.mmb",
            name="hostile",
            example_input=torch.zeros(1, 1, 28, 28),
            preprocess=MNIST_SPEC,
            labels=MNIST_LABELS,
            precisions=("fp32", "int8"),
            calibration=calib,
            evaluation=evaluation,
            max_accuracy_drop=0.5,
            max_float_layers=1,
            progress=False,
        )
    assert "node_conv2d" in str(info.value)
    assert len(info.value.sensitivity) == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_methods(small_mnist, tmp_path: Path, method: str) -> None:
    model, calib, evaluation = small_mnist
    out = export_bundle(
        model,
        tmp_path / f"{method}.mmb",
        name=method,
        example_input=torch.zeros(1, 1, 28, 28),
        preprocess=MNIST_SPEC,
        labels=MNIST_LABELS,
        precisions=("int8",),
        calibration=calib.subset(range(128)),
        evaluation=evaluation,
        calibration_method=method,
        int8_cpu_variant=False,
        progress=False,
    )
    reports = json.loads((out / "manifest.json").read_text())["reports"]
    assert reports["quantization"]["model.int8.onnx"]["method"] == method
    acc = reports["accuracy"]["artifacts"]
    assert acc["model.onnx"] - acc["model.int8.onnx"] <= 0.01


def test_int8_needs_calibration(tmp_path: Path) -> None:
    with pytest.raises(mmedge.ExportError, match="int8 needs calibration data"):
        export_bundle(
            tiny_cnn(),
            tmp_path / "x.mmb",
            name="x",
            example_input=torch.zeros(1, 1, 28, 28),
            precisions=("int8",),
            progress=False,
        )


def test_simplify_rechecks_parity(small_mnist, tmp_path: Path, monkeypatch) -> None:
    model, _, evaluation = small_mnist
    out = export_bundle(
        model,
        tmp_path / "slim.mmb",
        name="slim",
        example_input=torch.zeros(1, 1, 28, 28),
        preprocess=MNIST_SPEC,
        labels=MNIST_LABELS,
        evaluation=evaluation,
        simplify=True,
        progress=False,
    )
    simplification = json.loads((out / "manifest.json").read_text())["reports"]["simplification"]
    assert simplification["tool"] == "onnxslim"
    assert simplification["nodes_after"] <= simplification["nodes_before"]

    import onnxslim

    real_slim = onnxslim.slim

    def broken_slim(proto):  # a simplifier with a bug: one bias off by 0.5
        slim = real_slim(proto)
        for init in slim.graph.initializer:
            w = numpy_helper.to_array(init)
            if w.ndim == 1 and w.size == 10:
                init.CopyFrom(numpy_helper.from_array(w + np.float32(0.5), init.name))
        return slim

    monkeypatch.setattr(onnxslim, "slim", broken_slim)
    with pytest.raises(ParityError, match="simplification broke it"):
        export_bundle(
            model,
            tmp_path / "broken.mmb",
            name="broken",
            example_input=torch.zeros(1, 1, 28, 28),
            preprocess=MNIST_SPEC,
            labels=MNIST_LABELS,
            evaluation=evaluation,
            simplify=True,
            progress=False,
        )
    assert not (tmp_path / "broken.mmb").exists()


def test_fp16_parity_gate_refuses_a_bad_conversion(
    small_mnist, tmp_path: Path, monkeypatch
) -> None:
    model, _, evaluation = small_mnist
    real = bundle_export_module.to_fp16

    def lossy(proto, *args):  # a converter that rounds one conv kernel to 2 significant bits
        converted = real(proto, *args)
        for init in converted.graph.initializer:
            w = numpy_helper.to_array(init)
            if w.ndim == 4:
                init.CopyFrom(numpy_helper.from_array(np.round(w * 2) / 2, init.name))
                break
        return converted

    monkeypatch.setattr(bundle_export_module, "to_fp16", lossy)
    with pytest.raises(ParityError, match=r"model\.fp16\.onnx \(fp16\) does not match PyTorch"):
        export_bundle(
            model,
            tmp_path / "f16.mmb",
            name="f16",
            example_input=torch.zeros(1, 1, 28, 28),
            preprocess=MNIST_SPEC,
            labels=MNIST_LABELS,
            precisions=("fp16",),
            evaluation=evaluation,
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []
