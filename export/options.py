"""export_bundle's options, grouped by the stage that uses them (as MediaPipe composes
BaseOptions with task options): how the ONNX graph is made (OnnxOptions), how artifacts are
checked against PyTorch (ParityOptions), how the int8 artifacts are made and gated
(Int8Options). Every field has the default export_bundle uses without it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmedge.bundle.parity import ParityTolerance
from mmedge.errors import ExportError
from mmedge.export.data import Labelled
from mmedge.export.onnx_export import DEFAULT_OPSET

PRECISIONS = ("fp32", "fp16", "int8")
PARITY_SAMPLES = 256  # real samples used for parity when the data has that many
MIN_PARITY_SAMPLES = 32
PARITY_FIXTURE_BYTES = 4 << 20  # at most this much of the parity inputs is stored in the bundle


@dataclass(frozen=True)
class OnnxOptions:
    """opset: ONNX opset. exporter: auto (dynamo, TorchScript as a recorded fallback), dynamo
    or torchscript. simplify: run onnxslim (parity is re-checked, and blamed on it when only the
    simplified graph fails)."""

    opset: int = DEFAULT_OPSET
    exporter: str = "auto"
    simplify: bool = False


@dataclass(frozen=True)
class ParityOptions:
    """data: raw samples (>= 32) for the parity check; default: up to `samples` of the
    evaluation data, else of the calibration data, else seeded random samples.
    tolerances: gates by precision, over ParityTolerance.for_precision's defaults.
    fixture_bytes: at most this much of the parity inputs and outputs is stored in the bundle
    for `mmedge validate` on the device (default 4 MiB)."""

    data: Labelled | None = None
    samples: int = PARITY_SAMPLES
    tolerances: Mapping[str, ParityTolerance] = field(default_factory=dict)
    fixture_bytes: int = PARITY_FIXTURE_BYTES

    def __post_init__(self) -> None:
        if self.data is not None and len(self.data) < MIN_PARITY_SAMPLES:
            raise ExportError(
                f"parity needs at least {MIN_PARITY_SAMPLES} inputs, got {len(self.data)}"
            )
        unknown = sorted(set(self.tolerances) - set(PRECISIONS))
        if unknown:
            raise ExportError(f"tolerances name unknown precisions {unknown} ({PRECISIONS})")

    def gates(self) -> dict[str, ParityTolerance]:
        """The parity tolerance of each precision."""
        gates = {p: ParityTolerance.for_precision(p) for p in PRECISIONS}
        gates.update(self.tolerances)
        return gates


@dataclass(frozen=True)
class Int8Options:
    """method: calibration, minmax | entropy | percentile. max_accuracy_drop: with evaluation
    data, int8 may lose at most this many top-1 points against fp32 (the most sensitive layers
    are kept in float until it does). max_float_layers: at most this many (default: any).
    cpu_variant: also write the uint8-activation artifact ONNX Runtime's x86 kernels run ~3x
    faster (the int8-activation one is what TensorRT takes)."""

    method: str = "minmax"
    max_accuracy_drop: float = 1.0
    max_float_layers: int | None = None
    cpu_variant: bool = True


@dataclass(frozen=True)
class ExportOptions:
    """The three groups together."""

    onnx: OnnxOptions = OnnxOptions()
    parity: ParityOptions = ParityOptions()
    int8: Int8Options = Int8Options()


# export_bundle's flat keywords of mmedge 0.1 -> (group, field): still accepted.
FLAT_KEYWORDS: dict[str, tuple[str, str]] = {
    "opset": ("onnx", "opset"),
    "exporter": ("onnx", "exporter"),
    "simplify": ("onnx", "simplify"),
    "parity_data": ("parity", "data"),
    "parity_samples": ("parity", "samples"),
    "tolerances": ("parity", "tolerances"),
    "fixture_bytes": ("parity", "fixture_bytes"),
    "calibration_method": ("int8", "method"),
    "max_accuracy_drop": ("int8", "max_accuracy_drop"),
    "max_float_layers": ("int8", "max_float_layers"),
    "int8_cpu_variant": ("int8", "cpu_variant"),
}


def resolve_options(
    onnx: OnnxOptions | None,
    parity: ParityOptions | None,
    int8: Int8Options | None,
    flat: Mapping[str, Any],
) -> ExportOptions:
    """The groups, with flat keywords (FLAT_KEYWORDS, and `tolerance`: the fp32 gate) applied
    over them. Unknown keywords raise TypeError as a Python call would."""
    groups: dict[str, Any] = {
        "onnx": onnx or OnnxOptions(),
        "parity": parity or ParityOptions(),
        "int8": int8 or Int8Options(),
    }
    for key, value in flat.items():
        if key == "tolerance":
            if value is not None:
                tolerances = {**groups["parity"].tolerances, "fp32": value}
                groups["parity"] = dataclasses.replace(groups["parity"], tolerances=tolerances)
            continue
        if key not in FLAT_KEYWORDS:
            raise TypeError(f"export_bundle() got an unexpected keyword argument {key!r}")
        group, name = FLAT_KEYWORDS[key]
        if name == "tolerances" and value is None:
            value = {}
        groups[group] = dataclasses.replace(groups[group], **{name: value})
    return ExportOptions(**groups)
