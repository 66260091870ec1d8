"""The int8 stage: ONNX Runtime static quantisation (QDQ, symmetric int8 weights per channel)
calibrated on the staged calibration inputs, in two forms: int8 activations (what TensorRT
builds from) and, for x86 CPUs, uint8 activations. With evaluation data the int8 form must stay
within max_accuracy_drop top-1 points of fp32, keeping the most sensitive layers in float until
it does (quantize_within_drop); the uint8 form keeps the same layers in float and is dropped,
not failed, when it misses a gate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mmedge.errors import ExportError, ParityError
from mmedge.export.gate import Candidate, ParityGate
from mmedge.export.multi_task_gate import worst_drop_score
from mmedge.export.options import Int8Options
from mmedge.export.quantize import Int8Quantizer, Sensitivity, quantize_within_drop

log = logging.getLogger(__name__)

# artifact key -> (file, activation type)
VARIANTS = {"int8": ("model.int8.onnx", "int8"), "int8-u8": ("model.int8-u8.onnx", "uint8")}


def _qdq(activations: str) -> dict[str, Any]:
    return {
        "activations": activations,
        "weights": "int8",
        "per_channel": True,
        "symmetric_activations": activations == "int8",
    }


def int8_candidates(
    fp32_path: Path,
    scratch: Path,
    gate: ParityGate,
    options: Int8Options,
    fp32_accuracy: float | Mapping[str, float] | None,
    eval_labels: Any,
    progress: bool,
    float_tail: bool = False,
    after: Callable[[Path], None] | None = None,
) -> list[Candidate]:
    """The int8 artifacts that passed their gates (the int8-activation one always, or an
    error). fp32_accuracy: the fp32 figure, or each head's by name (several heads: every head
    must stay within the bound; the stage's score is then multi_task_gate.worst_drop_score).
    float_tail: keep the nodes after the last weighted layers in float in every variant
    (a detection head's decode; recorded as the quantisation report's float_tail). after: a
    rewrite of every quantised file before it is checked (NMS appended to the graph)."""
    if gate.feeds.calibration is None:
        raise ExportError("int8 needs calibration data (calibration= / --calib DIR)")
    quantizer = Int8Quantizer(
        fp32_path,
        gate.feeds.calibration,
        scratch / "int8",
        method=options.method,
        progress=progress,
    )
    if float_tail:
        quantizer.always_float = quantizer.output_tail()
    quantizer.after = after
    evaluate: Callable[[Path], float] | None = None
    if fp32_accuracy is not None and eval_labels is not None:
        labels = eval_labels
        if isinstance(fp32_accuracy, Mapping):  # several heads: each within the bound
            per_head, baseline = dict(fp32_accuracy), 1.0

            def evaluate(path: Path) -> float:
                return worst_drop_score(per_head, gate.accuracy(path, labels))

        else:
            baseline = fp32_accuracy

            def evaluate(path: Path) -> float:
                return gate.accuracy(path, labels)

    keys = ["int8"] + (["int8-u8"] if options.cpu_variant else [])
    made: list[Candidate] = []
    excluded: list[str] = []
    for key in keys:
        file, activations = VARIANTS[key]
        candidate = Candidate(file, "int8", scratch / file, qdq=_qdq(activations))
        sensitivity: list[Sensitivity] = []
        if evaluate is not None:
            if key == "int8":
                gated = quantize_within_drop(
                    quantizer,
                    candidate.path,
                    evaluate,
                    baseline,
                    options.max_accuracy_drop,
                    activations=activations,
                    max_float_nodes=options.max_float_layers,
                    progress=progress,
                )
                excluded, sensitivity = gated.excluded, gated.sensitivity
            else:  # same layers in float as the TensorRT variant, checked on its own
                quantizer.quantize(candidate.path, activations=activations, exclude=excluded)
                drop = 100 * (baseline - evaluate(candidate.path))
                if drop > options.max_accuracy_drop:
                    log.warning("int8 with uint8 activations drops %.2f points: not written", drop)
                    continue
        else:
            quantizer.quantize(candidate.path, activations=activations)
        try:
            gate.check(candidate)
        except ParityError:
            if key == "int8":
                raise
            log.warning("%s fails its parity gate: not written", candidate.file)
            continue
        candidate.quantization = {
            "method": quantizer.method,
            "calibration_samples": quantizer.n_samples,
            **(candidate.qdq or {}),
            "symmetric_weights": True,
            "excluded_nodes": list(excluded),
            "float_tail": list(quantizer.always_float),
            "sensitivity": [s.to_dict() for s in sensitivity],
            "max_accuracy_drop_pts": options.max_accuracy_drop
            if fp32_accuracy is not None
            else None,
        }
        made.append(candidate)
    return made
