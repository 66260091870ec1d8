"""The gates every artifact passes before a bundle is written: parity against PyTorch fp32 on
the staged inputs (ParityGate.check: fp32 to rounding noise, fp16 to 1e-2 and 99% top-1
agreement, int8 to 95% top-1 agreement and mean cosine 0.98; ParityTolerance.for_precision),
and top-1 accuracy on labelled data (ParityGate.accuracy; the int8 accuracy bound is applied by
the int8 stage). A miss raises ParityError and nothing is written."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.errors import ExportError, ParityError
from mmedge.export.data import Labelled
from mmedge.export.detection_gate import DetectionChecks
from mmedge.export.multi_task_gate import MultiChecks
from mmedge.export.segmentation_gate import SegmentationChecks
from mmedge.export.signature import HEAD_OUTPUT_KINDS, Signature
from mmedge.export.staging import Feeds, StagedFeeds
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.model import Model

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One artifact on its way into the bundle: where it is, what it is (qdq: the Q/DQ form
    of an int8 graph), and what the gates measured (parity per output, quantisation report)."""

    file: str
    precision: str
    path: Path
    qdq: dict[str, Any] | None = None
    parity: dict[str, ParityReport] | None = None
    quantization: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.parity is not None and all(r.passed for r in self.parity.values())


def _as_outputs(result: Any, n_outputs: int) -> list[torch.Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(outs) != n_outputs or not all(isinstance(o, torch.Tensor) for o in outs):
        raise ExportError(
            f"the model returns {len(outs)} output(s) "
            f"({[type(o).__name__ for o in outs]}); {n_outputs} output name(s) were given"
        )
    return outs


def torch_reference(
    model: torch.nn.Module,
    feeds: Mapping[str, np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
    batch_size: int = 128,
) -> dict[str, np.ndarray]:
    """The PyTorch fp32 outputs for `feeds` (N, ...) by output name, computed in batches."""
    n = len(feeds[input_names[0]])
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            args = [
                torch.from_numpy(np.ascontiguousarray(feeds[k][s : s + batch_size]))
                for k in input_names
            ]
            for name, out in zip(
                output_names, _as_outputs(model(*args), len(output_names)), strict=True
            ):
                chunks[name].append(out.detach().float().cpu().numpy())
    return {name: np.concatenate(c) for name, c in chunks.items()}


def torch_outputs(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's first output for one input array (N, ...) float32, in batches."""
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            out = model(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])))
            if isinstance(out, (tuple, list)):
                out = out[0]
            chunks.append(out.detach().float().cpu().numpy())
    return np.concatenate(chunks)


def backend_outputs(
    backend: OrtBackend, feeds: Mapping[str, np.ndarray], batch_size: int = 256
) -> dict[str, np.ndarray]:
    """The backend's outputs for `feeds` (N, ...), in batches, by output name."""
    n = len(next(iter(feeds.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, n, batch_size):
        result = backend.infer(
            {k: np.ascontiguousarray(v[s : s + batch_size]) for k, v in feeds.items()}
        )
        for name, value in result.items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(v) for name, v in parts.items()}


def onnx_outputs(path: Path, feeds: Feeds) -> dict[str, np.ndarray]:
    """Outputs of an ONNX file on ONNX Runtime CPU."""
    backend = OrtBackend(path, providers=["CPUExecutionProvider"])
    try:
        return backend_outputs(backend, feeds)
    finally:
        backend.close()


def parity_reports(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    tolerance: ParityTolerance,
) -> dict[str, ParityReport]:
    return {
        name: compare(ref, candidate[name], output=name, tolerance=tolerance)
        for name, ref in reference.items()
    }


def model_accuracy(bundle: Path, file: str, data: Labelled, batch: int = 256) -> float:
    """Top-1 accuracy of one artifact through mmedge.Model (preprocessing kernels + ONNX
    Runtime CPU), as a deployment runs it."""
    correct = 0
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        all_rates = data.rates_for(model.specs)
        for s in range(0, len(data), batch):
            rates = all_rates[s : s + batch] if all_rates else None
            predictions = model.predict_batch(data.samples[s : s + batch], sample_rates=rates)
            correct += sum(
                int(p.index == y)
                for p, y in zip(predictions, data.labels[s : s + batch], strict=True)
            )
    return correct / len(data)


class ParityGate:
    """PyTorch's fp32 outputs on the staged parity inputs, and the checks against them.

    name: the bundle's name (for messages). gates: the tolerance per precision.
    unsimplified: the fp32 graph before onnxslim, when the graph was simplified: a failing
    fp32 graph that passes without simplification blames the simplification.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        signature: Signature,
        feeds: StagedFeeds,
        gates: Mapping[str, ParityTolerance],
        name: str,
        unsimplified: Path | None = None,
        head: DetectionChecks | SegmentationChecks | MultiChecks | None = None,
    ) -> None:
        self.signature, self.feeds, self.gates = signature, feeds, dict(gates)
        self.name, self.unsimplified = name, unsimplified
        self.head = head
        self.reference = torch_reference(
            model, feeds.parity, signature.input_names, signature.output_names
        )

    def check(self, candidate: Candidate) -> Candidate:
        """Measures parity into candidate.parity; raises ParityError when it fails."""
        tol = self.gates[candidate.precision]
        got = onnx_outputs(candidate.path, self.feeds.parity)
        candidate.parity = parity_reports(self.reference, got, tol)
        if self.head is not None:  # a task head passes or fails by its boxes or mask pixels
            for o in self.signature.outputs:
                if o.kind in HEAD_OUTPUT_KINDS:
                    candidate.parity[o.name] = self.head.parity(
                        o.name, self.reference[o.name], got[o.name], candidate.precision
                    )
        for report in candidate.parity.values():
            log.info("%s %s", candidate.file, report.summary())
        if candidate.passed:
            return candidate
        failed = [r for r in candidate.parity.values() if not r.passed]
        n = len(next(iter(self.reference.values())))
        raise ParityError(
            f"{self.name}: {candidate.file} ({candidate.precision}) does not match PyTorch on "
            f"{n} {self.feeds.source} inputs: "
            + "; ".join(r.summary() + "".join(f" [{n}]" for n in r.notes) for r in failed)
            + f" (gate: atol={tol.atol} + {tol.atol_fraction_of_max} x max|ref| "
            f"rtol={tol.rtol} top1>={tol.min_top1_agreement}"
            f" mean_cos>={tol.min_mean_cosine}){self._blame(candidate)}; no bundle was written",
            failed[0],
        )

    def _blame(self, candidate: Candidate) -> str:
        if self.unsimplified is None or candidate.precision != "fp32":
            return ""
        raw = parity_reports(
            self.reference, onnx_outputs(self.unsimplified, self.feeds.parity), self.gates["fp32"]
        )
        if not all(r.passed for r in raw.values()):
            return ""
        return (
            " (the graph before onnxslim passes: simplification broke it; "
            "export without --simplify)"
        )

    def accuracy(self, path: Path, labels: Any) -> Any:
        """Top-1 accuracy of an ONNX file on the staged evaluation inputs; for a detection
        head, mAP@0.5:0.95 (labels: the BoxLabelled evaluation set); for a segmentation head,
        mIoU (labels: the MaskLabelled set); for several heads, each head's figure by name
        (labels: the MultiLabelled set)."""
        if isinstance(self.head, MultiChecks) and self.feeds.evaluation is not None:
            return self.head.accuracy(onnx_outputs(path, self.feeds.evaluation), labels)
        if self.head is not None and self.feeds.evaluation is not None:
            name = next(o.name for o in self.signature.outputs if o.kind in HEAD_OUTPUT_KINDS)
            raw = onnx_outputs(path, self.feeds.evaluation)[name]
            return self.head.accuracy(raw, labels)
        scored = self.signature.scored
        if self.feeds.evaluation is None or scored is None:
            raise ExportError("accuracy needs evaluation data and a logits or probs output")
        scores = onnx_outputs(path, self.feeds.evaluation)[scored.name]
        return float((scores.argmax(axis=1) == labels).mean())
