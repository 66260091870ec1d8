"""mmedge.export: trained PyTorch models -> checked ONNX bundles. Needs the `export` extra
(torch, onnx, onnxscript, onnxruntime); the runtime (`mmedge`) never imports this package."""

from __future__ import annotations

from mmedge.bundle_writer import write_bundle
from mmedge.export.bundle_export import export_bundle, package_versions, torch_outputs
from mmedge.export.onnx_export import OnnxExport, to_onnx
from mmedge.parity import ParityReport, ParityTolerance, compare

__all__ = [
    "OnnxExport",
    "ParityReport",
    "ParityTolerance",
    "compare",
    "export_bundle",
    "package_versions",
    "to_onnx",
    "torch_outputs",
    "write_bundle",
]
