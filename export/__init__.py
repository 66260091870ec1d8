"""mmedge.export: trained PyTorch models -> checked bundles (ONNX fp32/fp16/int8). Needs the
`export` extra (torch, onnx, onnxscript, onnxruntime); the runtime (`mmedge`) never imports this
package.

The toolchain: signature (inputs, outputs), onnx_export, fp16, quantize, the stages of
export_bundle (staging, gate, int8, manifest) and their options; data (read_folder), presets,
summary, cli. recipes/ trains the bundles of the examples, tests and benchmarks; zoo holds their
model architectures.
"""

from __future__ import annotations

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.bundle.writer import write_bundle
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import Labelled, read_folder
from mmedge.export.gate import torch_outputs
from mmedge.export.manifest import package_versions
from mmedge.export.onnx_export import OnnxExport, to_onnx
from mmedge.export.options import Int8Options, OnnxOptions, ParityOptions
from mmedge.export.quantize import AccuracyGateError
from mmedge.export.signature import ModelInput, ModelOutput

__all__ = [
    "AccuracyGateError",
    "Int8Options",
    "Labelled",
    "ModelInput",
    "ModelOutput",
    "OnnxExport",
    "OnnxOptions",
    "ParityOptions",
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
