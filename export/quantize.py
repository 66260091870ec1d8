"""fp32 ONNX -> int8 QDQ ONNX with ONNX Runtime static quantisation, calibrated on real data.

Weights: int8, symmetric, per output channel. Activations: int8 symmetric (zero point 0), the
explicit-quantisation graph TensorRT builds int8 engines from, or uint8 asymmetric, which ONNX
Runtime's x86 CPU kernels (MLAS u8s8) run about three times faster than int8 activations.
Calibration runs once per activation type (ranges cached), so trying different sets of layers
kept in float costs a quantisation pass, not a calibration.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from tqdm import tqdm

from mmedge.errors import ExportError

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = ("int8", "uint8")
# The ops that get Q/DQ on their inputs: the compute layers and the ops TensorRT and ONNX
# Runtime run in int8 between them (residual adds, pooling, concatenation). Data movement and
# normalisation ops (Gather, Reshape, Transpose, BatchNormalization, ...) stay float: quantising
# them adds Q/DQ pairs, and on a raw network input (an MFCC's C0 spans hundreds of dB while the
# other coefficients span a few) one per-tensor scale would erase the small features.
QUANTIZED_OPS = (
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Concat",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Resize",
)
# The layers worth keeping in float when they are the ones that lose the accuracy.
SENSITIVITY_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Concat")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
CALIBRATION_BATCH = 32


def _ort_quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as exc:  # pragma: no cover - onnxruntime is an export dependency
        raise ExportError("int8 export needs onnxruntime: pip install 'mmedge[export]'") from exc
    return quantization


class _FeedsReader:
    """CalibrationDataReader over preprocessed inputs, in batches of CALIBRATION_BATCH."""

    def __init__(self, feeds: Mapping[str, np.ndarray], progress: bool) -> None:
        self._feeds = feeds
        self._n = len(next(iter(feeds.values())))
        self._progress = progress
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        starts = range(0, self._n, CALIBRATION_BATCH)
        for s in tqdm(
            starts, desc="calibrate", unit="batch", disable=not self._progress, leave=False
        ):
            yield {
                k: np.ascontiguousarray(v[s : s + CALIBRATION_BATCH])
                for k, v in self._feeds.items()
            }

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            self._iter = self._batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None

    def __len__(self) -> int:
        return -(-self._n // CALIBRATION_BATCH)


@dataclass(frozen=True)
class QuantizableNode:
    name: str
    op_type: str


@contextlib.contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    """Runs the block in `folder`: when ONNX Runtime's symbolic shape inference fails it writes
    sym_shape_infer_temp.onnx and a <uuid>.data file into the current directory and leaves
    them there (onnxruntime.tools.symbolic_shape_infer); they must land in the scratch folder,
    not in the user's. (An export is one job; nothing else of the process reads the cwd.)"""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


class Int8Quantizer:
    """Quantises one fp32 ONNX model, calibrating once per activation type.

    fp32_model: the fp32 .onnx path. calibration: preprocessed inputs by input name (N, ...)
    float32, N >= 1 (a few hundred real samples is typical). method: minmax | entropy |
    percentile (percentile keeps `percentile` % of each activation's histogram).
    workdir: where the pre-processed model and calibration caches live (a temp folder).
    """

    def __init__(
        self,
        fp32_model: str | Path,
        calibration: Mapping[str, np.ndarray],
        workdir: str | Path,
        *,
        method: str = "minmax",
        percentile: float = 99.999,
        per_channel: bool = True,
        progress: bool = True,
    ) -> None:
        method = method.lower()
        if method not in CALIBRATION_METHODS:
            raise ExportError(
                f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got "
                f"{method!r}"
            )
        sizes = {k: len(v) for k, v in calibration.items()}
        if not calibration or min(sizes.values()) < 1 or len(set(sizes.values())) != 1:
            raise ExportError(
                f"calibration needs the same number (>= 1) of samples per input, got {sizes}"
            )
        self.quantization = _ort_quantization()
        self.method = method
        self.percentile = percentile
        self.per_channel = per_channel
        self.progress = progress
        self.calibration = calibration
        self.n_samples = next(iter(sizes.values()))
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prepared = self.workdir / "prepared.onnx"
        self.always_float: list[str] = []  # kept in float in every variant (output_tail())
        self.after: Callable[[Path], None] | None = None  # applied to every quantised file
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            with _working_folder(self.workdir):
                quant_pre_process(
                    str(Path(fp32_model).resolve()), str(self.prepared.resolve()),
                    skip_symbolic_shape=False,
                )  # fmt: skip
        except Exception as exc:
            log.warning("quant_pre_process failed (%s); quantising the model as exported", exc)
            self.prepared.write_bytes(Path(fp32_model).read_bytes())
        self._has_cache = (
            "calibration_cache_path"
            in inspect.signature(self.quantization.quantize_static).parameters
        )

    def nodes(self) -> list[QuantizableNode]:
        """The quantised compute nodes of the prepared model (candidates for staying in float)."""
        graph = onnx.load(str(self.prepared), load_external_data=False).graph
        return [
            QuantizableNode(n.name, n.op_type)
            for n in graph.node
            if n.op_type in SENSITIVITY_OPS and n.name not in self.always_float
        ]

    def output_tail(self) -> list[str]:
        """The nodes between the last weighted layers (Conv, Gemm, MatMul) and the graph outputs
        of the prepared model: a detector's decode (box arithmetic, sigmoid, and the concat of
        pixel boxes with 0..1 scores, which no single int8 scale holds)."""
        graph = onnx.load(str(self.prepared), load_external_data=False).graph
        producer = {t: n for n in graph.node for t in n.output}
        tail: list[str] = []
        stack = [o.name for o in graph.output]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node.name in tail or node.op_type in WEIGHTED_OPS:
                continue
            tail.append(node.name)
            stack.extend(node.input)
        return tail

    def quantize(
        self, out: str | Path, *, activations: str = "int8", exclude: Sequence[str] = ()
    ) -> Path:
        """Writes the QDQ model to `out`, keeping the nodes named in `exclude` in float."""
        q = self.quantization
        if activations not in ACTIVATION_TYPES:
            raise ExportError(f"activations must be int8 or uint8, got {activations!r}")
        symmetric = activations == "int8"
        method = {
            "minmax": q.CalibrationMethod.MinMax,
            "entropy": q.CalibrationMethod.Entropy,
            "percentile": q.CalibrationMethod.Percentile,
        }[self.method]
        extra: dict[str, Any] = {
            "ActivationSymmetric": symmetric,
            "WeightSymmetric": True,
            "CalibTensorRangeSymmetric": symmetric,
        }
        if self.method == "percentile":
            extra["CalibPercentile"] = self.percentile
        kwargs: dict[str, Any] = {}
        if self._has_cache:
            kwargs["calibration_cache_path"] = str(self.workdir / f"ranges-{activations}.json")
        try:
            q.quantize_static(
                str(self.prepared),
                str(out),
                _FeedsReader(self.calibration, self.progress),
                quant_format=q.QuantFormat.QDQ,
                per_channel=self.per_channel,
                activation_type=q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                calibrate_method=method,
                op_types_to_quantize=list(QUANTIZED_OPS),
                nodes_to_exclude=[*self.always_float, *exclude],
                extra_options=extra,
                **kwargs,
            )
        except Exception as exc:
            raise ExportError(f"int8 quantisation failed: {type(exc).__name__}: {exc}") from exc
        if self.after is not None:
            self.after(Path(out))
        return Path(out)


@dataclass(frozen=True)
class Sensitivity:
    """Accuracy of the int8 model with one node kept in float (all others int8)."""

    node: str
    op_type: str
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "op_type": self.op_type, "accuracy": self.accuracy}


@dataclass
class GatedInt8:
    """An int8 model within the accuracy bound: its file, accuracy, the nodes kept in float,
    and the per-node sensitivity measured to choose them (empty when none was needed)."""

    path: Path
    accuracy: float
    excluded: list[str]
    sensitivity: list[Sensitivity]


class AccuracyGateError(ExportError):
    """int8 lost more accuracy than allowed even with layers kept in float."""

    def __init__(self, message: str, sensitivity: list[Sensitivity]) -> None:
        super().__init__(message)
        self.sensitivity = sensitivity


def sensitivity_table(sensitivity: Sequence[Sensitivity], baseline: float, fp32: float) -> str:
    rows = [f"{'node':<40} {'op':<10} {'acc if float':>12} {'gain pts':>9} {'drop pts':>9}"]
    for s in sensitivity:
        rows.append(
            f"{s.node:<40} {s.op_type:<10} {s.accuracy:>12.4f} "
            f"{100 * (s.accuracy - baseline):>9.2f} {100 * (fp32 - s.accuracy):>9.2f}"
        )
    return "\n".join(rows)


def quantize_within_drop(
    quantizer: Int8Quantizer,
    out: Path,
    evaluate: Callable[[Path], float],
    fp32_accuracy: float,
    max_drop_pts: float,
    *,
    activations: str = "int8",
    max_float_nodes: int | None = None,
    progress: bool = True,
) -> GatedInt8:
    """int8 within `max_drop_pts` accuracy points of fp32, keeping the most sensitive layers in
    float if needed.

    Sensitivity of a node = accuracy of the model with only that node in float. Nodes are then
    kept in float greedily, most sensitive first, until the drop is within the bound. Raises
    AccuracyGateError with the sensitivity table when the bound cannot be met (within
    max_float_nodes nodes, default all).
    """
    quantizer.quantize(out, activations=activations)
    accuracy = evaluate(out)
    if 100 * (fp32_accuracy - accuracy) <= max_drop_pts:
        return GatedInt8(out, accuracy, [], [])
    log.info(
        "int8 (%s activations) drops %.2f points (> %.2f): measuring per-layer sensitivity",
        activations,
        100 * (fp32_accuracy - accuracy),
        max_drop_pts,
    )
    nodes = quantizer.nodes()
    probe = out.with_name(out.stem + ".probe.onnx")
    sensitivity = []
    for node in tqdm(
        nodes, desc="int8 sensitivity", unit="layer", disable=not progress, leave=False
    ):
        quantizer.quantize(probe, activations=activations, exclude=[node.name])
        sensitivity.append(Sensitivity(node.name, node.op_type, evaluate(probe)))
    probe.unlink(missing_ok=True)
    sensitivity.sort(key=lambda s: -s.accuracy)
    limit = len(sensitivity) if max_float_nodes is None else max_float_nodes
    excluded: list[str] = []
    for s in sensitivity[:limit]:
        excluded.append(s.node)
        quantizer.quantize(out, activations=activations, exclude=excluded)
        accuracy = evaluate(out)
        log.info("int8 with %s in float: accuracy %.4f", excluded, accuracy)
        if 100 * (fp32_accuracy - accuracy) <= max_drop_pts:
            return GatedInt8(out, accuracy, excluded, sensitivity)
    raise AccuracyGateError(
        f"int8 ({activations} activations) stays {100 * (fp32_accuracy - accuracy):.2f} accuracy "
        f"points below fp32 ({fp32_accuracy:.4f}) with {len(excluded)} of {len(nodes)} "
        f"layers kept in float; the bound is {max_drop_pts} points. Per-layer sensitivity "
        f"(accuracy with only that layer in float):\n"
        + sensitivity_table(
            sensitivity, accuracy if not excluded else sensitivity[-1].accuracy, fp32_accuracy
        )
        + "\nTry --calibration-method entropy or percentile, more calibration data, a larger "
        "--max-accuracy-drop, or quantisation-aware training.",
        sensitivity,
    )
