"""mmedge.export: ONNX export (dynamo, dynamic batch, recorded TorchScript fallback), the parity
gate that refuses wrong numbers, and export_bundle's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

import mmedge
from mmedge import Bundle, ExportError, ParityError
from mmedge.export import bundle_export as bundle_export_module
from mmedge.export import compare, export_bundle, to_onnx
from mmedge.export.data import Labelled
from mmedge.export.zoo import tiny_cnn
from mmedge.runtime.backends.ort import OrtBackend

SPEC = mmedge.ImageSpec(
    28, 28, input_format="GRAY", output_format="GRAY", mean=(0.13,), std=(0.31,)
)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.export refuses it, TorchScript traces one branch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.pos, self.neg = nn.Linear(8, 5), nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.pos(x)
        return self.neg(x)


def run_onnx(
    model: onnx.ModelProto, tmp_path: Path, x: np.ndarray, name: str = "input"
) -> np.ndarray:
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    backend = OrtBackend(path, providers=["CPUExecutionProvider"])
    return next(iter(backend.infer({name: x}).values()))


def test_dynamo_export_has_dynamic_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = tiny_cnn().eval()
    result = to_onnx(
        model, torch.zeros(1, 1, 28, 28), input_names=["image"], output_names=["logits"]
    )
    assert result.exporter == "dynamo"
    assert result.fallback_reason is None
    dims = result.model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == [1, 28, 28]
    for batch in (1, 3, 17):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(
            run_onnx(result.model, tmp_path, x, "image"), expected, rtol=1e-4, atol=1e-5
        )


def test_fallback_to_torchscript_is_recorded() -> None:
    result = to_onnx(Branchy(), torch.ones(1, 8))
    assert result.exporter == "torchscript"
    assert "dynamo exporter failed" in result.fallback_reason
    assert "data-dependent" in result.fallback_reason  # the root cause, not just the wrapper
    assert "\x1b[" not in result.fallback_reason


def test_forced_exporters() -> None:
    with pytest.raises(ExportError, match="dynamo export failed"):
        to_onnx(Branchy(), torch.ones(1, 8), exporter="dynamo")
    assert (
        to_onnx(tiny_cnn(), torch.zeros(1, 1, 28, 28), exporter="torchscript").exporter
        == "torchscript"
    )
    with pytest.raises(ExportError, match="exporter must be one of"):
        to_onnx(tiny_cnn(), torch.zeros(1, 1, 28, 28), exporter="tflite")


def test_parity_gate_catches_a_traced_branch(tmp_path: Path) -> None:
    """The TorchScript fallback froze the x.mean() > 0 branch; inputs with a negative mean
    expose it and nothing is written."""
    out = tmp_path / "branchy.mmb"
    # The branch depends on the mean of the whole batch; the traced example took x.mean() > 0.
    x = -np.abs(np.random.default_rng(0).standard_normal((32, 8))).astype(np.float32)
    with pytest.raises(ParityError, match="does not match PyTorch") as info:
        export_bundle(
            Branchy(),
            out,
            name="branchy",
            example_input=torch.ones(1, 8),
            labels=[str(i) for i in range(5)],
            parity_data=Labelled(list(x), np.zeros(32, np.int64), []),
            input_name="x",
            progress=False,
        )
    assert info.value.report.max_abs > 1e-2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_parity_gate_refuses_one_perturbed_weight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter that silently got one weight wrong (pytorch issue 189225 was such a bug):
    the ONNX graph is valid, the numbers are not, and export_bundle refuses it."""
    real_to_onnx = bundle_export_module.to_onnx

    def broken_to_onnx(*args, **kwargs):
        result = real_to_onnx(*args, **kwargs)
        for init in result.model.graph.initializer:
            w = numpy_helper.to_array(init)
            if w.ndim == 4:  # the first conv kernel: nudge one of its 144 weights by 0.05
                w = w.copy()
                w.flat[0] += 0.05
                init.CopyFrom(numpy_helper.from_array(w, init.name))
                break
        return result

    monkeypatch.setattr(bundle_export_module, "to_onnx", broken_to_onnx)
    torch.manual_seed(0)
    out = tmp_path / "broken.mmb"
    with pytest.raises(ParityError) as info:
        export_bundle(
            tiny_cnn(),
            out,
            name="broken",
            example_input=torch.zeros(1, 1, 28, 28),
            labels=[str(i) for i in range(10)],
            preprocess=SPEC,
            progress=False,
        )
    report = info.value.report
    assert not report.within_tolerance
    assert report.n_samples == 64  # seeded random frames: no data was given
    assert not out.exists()


def test_compare_metrics() -> None:
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    cand = ref + np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 2.5]])  # second sample flips its top-1
    report = compare(ref, cand)
    assert report.max_abs == 2.5
    assert report.top1_agreement == 0.5
    assert not report.passed
    assert len(report.disagreements) == 1
    d = report.disagreements[0]
    assert (d.sample, d.reference_top1, d.candidate_top1, d.reference_margin) == (1, 0, 2, 2.0)
    assert compare(ref, ref).passed
    nan = compare(ref, np.full_like(ref, np.nan))
    assert not nan.passed
    assert "NaN" in nan.notes[0]


def test_export_bundle_manifest(tmp_path: Path) -> None:
    torch.manual_seed(0)
    out = export_bundle(
        tiny_cnn(),
        tmp_path / "tiny.mmb",
        name="tiny",
        example_input=torch.zeros(1, 1, 28, 28),
        labels=[str(i) for i in range(10)],
        preprocess=SPEC,
        progress=False,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reports"]["parity"]["model.onnx"]["passed"]
    parity = manifest["reports"]["parity"]["model.onnx"]["outputs"]["logits"]
    assert parity["n_samples"] >= 32
    assert parity["passed"]
    assert parity["max_abs"] < 1e-4
    assert set(parity) >= {"max_abs", "mean_abs", "max_rel", "mean_rel", "top1_agreement"}
    assert manifest["provenance"]["exporter"] == "dynamo"
    assert manifest["provenance"]["versions"]["torch"] == torch.__version__
    with Bundle.load(out) as bundle:
        assert bundle.preprocess() == SPEC
        assert bundle.inputs[0].shape == ("batch", 1, 28, 28)


def test_too_few_parity_inputs(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="at least 32 inputs, got 8"):
        export_bundle(
            tiny_cnn(),
            tmp_path / "x.mmb",
            name="x",
            example_input=torch.zeros(1, 1, 28, 28),
            parity_data=Labelled(list(np.zeros((8, 1, 28, 28), np.float32)), np.zeros(8), []),
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []
