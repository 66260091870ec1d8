"""mmedge.export: trained PyTorch models -> checked bundles (ONNX fp32/fp16/int8). Needs the
`export` extra (torch, onnx, onnxscript, onnxruntime); the runtime (`mmedge`) never imports this
package."""

from __future__ import annotations

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.bundle.writer import write_bundle
from mmedge.export.bundle_export import (
    ModelInput,
    ModelOutput,
    export_bundle,
    package_versions,
    torch_outputs,
)
from mmedge.export.data import Labelled, read_folder
from mmedge.export.onnx_export import OnnxExport, to_onnx
from mmedge.export.quantize import AccuracyGateError

__all__ = [
    "AccuracyGateError",
    "Labelled",
    "ModelInput",
    "ModelOutput",
    "OnnxExport",
    "ParityReport",
    "ParityTolerance",
    "compare",
    "export_bundle",
    "package_versions",
    "read_folder",
    "to_onnx",
    "torch_outputs",
    "write_bundle",
]
