"""export_bundle(): a trained PyTorch model -> a checked, self-describing bundle with fp32, fp16
and int8 artifacts, each behind a gate that refuses to write a bad bundle. A short orchestrator
of named stages:

1. signature (signature.py): the inputs, outputs and their specs, checked.
2. ONNX (onnx_export.py): dynamo, TorchScript fallback recorded; onnx.checker; onnxslim when
   asked.
3. staged feeds (staging.py): a provisional bundle's own preprocessing turns the raw parity,
   calibration and evaluation samples into tensors exactly as deployment will feed them.
4. the gate (gate.py): PyTorch fp32 outputs on the parity inputs; each artifact's parity
   (fp32, fp16, int8; ParityTolerance.for_precision) and top-1 accuracy.
5. int8 variants (int8.py): calibrated QDQ, within max_accuracy_drop points of fp32.
6. manifest (manifest.py): provenance, fixture, CPU speed, recommendation; accuracy of every
   artifact through mmedge.Model on the staged bundle; one atomic write.
Any failure writes nothing.
"""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge.bundle.writer import write_bundle
from mmedge.errors import ExportError
from mmedge.export.data import AnyLabelled, Labelled
from mmedge.export.fp16 import FP32_OPS, to_fp16
from mmedge.export.gate import (
    Candidate,
    ParityGate,
    backend_outputs,
    torch_outputs,
    torch_reference,
)
from mmedge.export.graph_nms import TAIL_OPS, GraphNms
from mmedge.export.int8 import int8_candidates
from mmedge.export.manifest import (
    base_manifest,
    cpu_speeds,
    final_manifest,
    package_versions,
    parity_fixture,
)
from mmedge.export.onnx_export import OnnxExport, to_onnx
from mmedge.export.options import (
    PRECISIONS,
    ExportOptions,
    Int8Options,
    OnnxOptions,
    ParityOptions,
    resolve_options,
)
from mmedge.export.signature import ModelInput, ModelOutput, Signature
from mmedge.export.staging import stage_feeds
from mmedge.export.summary import summary
from mmedge.export.task_checks import HEAD_KINDS, accuracy_report, head_checks, keeps_float_tail
from mmedge.tasks.heads import Head

log = logging.getLogger(__name__)

FP32_FILE, FP16_FILE = "model.onnx", "model.fp16.onnx"


def _simplify(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    try:
        import onnxslim
    except ImportError as exc:
        raise ExportError("simplify=True needs onnxslim: pip install 'mmedge[export]'") from exc
    before = len(proto.graph.node)
    try:
        slim = onnxslim.slim(proto)
        onnx.checker.check_model(slim)
    except Exception as exc:
        raise ExportError(f"onnxslim failed: {type(exc).__name__}: {exc}") from exc
    return slim, {
        "tool": "onnxslim",
        "version": importlib.metadata.version("onnxslim"),
        "nodes_before": before,
        "nodes_after": len(slim.graph.node),
    }


def _onnx_stage(
    model: torch.nn.Module, signature: Signature, options: OnnxOptions, scratch: Path
) -> tuple[OnnxExport, Candidate, Path | None, dict[str, Any] | None]:
    """(the export, the fp32 candidate, the graph before onnxslim, the simplification report)."""
    exported = to_onnx(
        model,
        signature.examples(),
        input_names=signature.input_names,
        output_names=signature.output_names,
        opset=options.opset,
        exporter=options.exporter,
        dynamic_axes=signature.dynamic_axes(),
    )
    proto, simplification, unsimplified = exported.model, None, None
    if options.simplify:
        unsimplified = scratch / "unsimplified.onnx"
        onnx.save(proto, str(unsimplified))
        proto, simplification = _simplify(proto)
    fp32 = Candidate(FP32_FILE, "fp32", scratch / FP32_FILE)
    onnx.save(proto, str(fp32.path))
    return exported, fp32, unsimplified, simplification


def _check_request(
    out: Path,
    overwrite: bool,
    wanted: Sequence[str],
    calibration: AnyLabelled | None,
    evaluation: AnyLabelled | None,
    signature: Signature,
    detection: bool = False,
) -> None:
    """Everything that can be refused before any work is done."""
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if evaluation is not None and len(evaluation) == 0:
        raise ExportError("the evaluation set is empty")
    if "int8" in wanted and (calibration is None or len(calibration) == 0):
        raise ExportError("int8 needs calibration data (calibration= / --calib DIR)")
    if evaluation is not None and signature.scored is None and not detection:
        raise ExportError("accuracy evaluation needs a logits or probs output or a detection head")


def _evaluation_shortcut(
    evaluation: Labelled | None, flat: dict[str, Any], labels: Sequence[str] | None
) -> Labelled | None:
    """eval_frames/eval_labels (an image evaluation set) instead of evaluation=."""
    frames, ys = flat.pop("eval_frames", None), flat.pop("eval_labels", None)
    if frames is None and ys is None:
        return evaluation
    if frames is None or ys is None or evaluation is not None:
        raise ExportError("eval_frames and eval_labels go together, instead of evaluation")
    return Labelled(list(frames), np.asarray(ys, dtype=np.int64), list(labels or []))


def _modality(given: str | None, signature: Signature) -> str:
    """The bundle's modality: `given`, checked against the inputs' specs, or inferred."""
    kinds = {i.preprocess.kind for i in signature.inputs if i.preprocess is not None}
    inferred = kinds.pop() if len(kinds) == 1 else ("multimodal" if kinds else "image")
    if given is None:
        return inferred
    single_spec = len(signature.inputs) == 1 and signature.inputs[0].preprocess is not None
    if single_spec and given != inferred:
        raise ExportError(
            f"modality {given!r} contradicts the input's {inferred} preprocessing spec "
            f"({type(signature.inputs[0].preprocess).__name__}); leave modality out to "
            "take it from the spec"
        )
    return given


def export_bundle(
    model: torch.nn.Module,
    out: str | Path,
    *,
    name: str,
    inputs: Sequence[ModelInput] | None = None,
    outputs: Sequence[ModelOutput] | None = None,
    example_input: torch.Tensor | None = None,
    preprocess: pp.Spec | None = None,
    input_name: str = "image",
    output_name: str = "logits",
    output_kind: str = "logits",
    labels: Sequence[str] | None = None,
    modality: str | None = None,
    task: str = "classification",
    description: str | None = None,
    precisions: Sequence[str] = ("fp32",),
    calibration: AnyLabelled | None = None,
    evaluation: AnyLabelled | None = None,
    heads: Sequence[Head] = (),
    graph_nms: bool = False,
    onnx_options: OnnxOptions | None = None,
    parity_options: ParityOptions | None = None,
    int8_options: Int8Options | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **flat: Any,
) -> Path:
    """Exports `model` to a bundle at `out` (NAME.mmb or a .tar) and returns its path.

    inputs/outputs: every model input (ModelInput: example tensor, preprocessing spec) and
        output (ModelOutput: name, kind) in the order the model takes and returns them. For a
        single-input model, example_input/preprocess/input_name/output_name are shortcuts.
    modality: what the bundle is for (image, audio, video, fusion, multimodal); None: inferred
        from the inputs' specs (one kind: that kind; several: multimodal; none: image). A
        modality that contradicts the one spec of a single-input model is refused.
    precisions: any of fp32, fp16, int8 (fp32 is always exported: it is the reference).
    heads: task heads (one DetectionHead for task='detection', one SegmentationHead for
        task='segmentation': logits parity judged on the pixels' classes, accuracy as mIoU on
        a MaskLabelled evaluation set at the frames' resolution, int8 within max_accuracy_drop
        mIoU points of fp32; output kind 'segmentation_logits'): declared in the manifest,
        parity judged on decoded boxes (export.detection_gate.BoxGate), accuracy as COCO
        mAP@0.5:0.95 on a BoxLabelled evaluation set (int8 within max_accuracy_drop mAP
        points of fp32); the output kind defaults to 'detection_head'. Several heads on one
        network (task='multi_task'; detection and segmentation heads, each with a distinct
        name, its own output and its labels): each head gated as above on its own output, a
        MultiLabelled evaluation set (one truth per head), int8 within max_accuracy_drop
        points of fp32 for every head (export.multi_task_gate).
    graph_nms: put the head's decode and NMS into the graph (ONNX NonMaxSuppression; see
        mmedge.export.graph_nms): every artifact outputs final boxes, the manifest's head is
        kind end2end with nms 'graph', and reports['graph_nms'] says how the graph's NMS
        agrees with the kernel's on PyTorch's outputs (the export fails below 99%).
    calibration: raw samples for int8 calibration (read_folder); evaluation: labelled raw
        samples: the top-1 accuracy of every artifact is measured on them through
        mmedge.Model, and int8 must stay within int8_options.max_accuracy_drop points of fp32.
    onnx_options / parity_options / int8_options: the stages' options (mmedge.export.options).
        The flat keywords of mmedge 0.1 (max_accuracy_drop=, calibration_method=,
        max_float_layers=, int8_cpu_variant=, simplify=, opset=, exporter=, tolerance=,
        tolerances=, parity_data=, parity_samples=, fixture_bytes=, eval_frames= with
        eval_labels=) are still accepted and fill those groups.
    progress: progress bars while it works and the summary table (parity, accuracy, speed per
        artifact, as `mmedge export` prints it) when it is done.
    Raises ParityError or ExportError (AccuracyGateError for int8) and writes nothing on any
    failure; refuses an existing `out` without overwrite before doing any work.
    """
    out = Path(out)
    evaluation = _evaluation_shortcut(evaluation, flat, labels)
    options: ExportOptions = resolve_options(onnx_options, parity_options, int8_options, flat)
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ExportError(f"precision must be among {PRECISIONS}, got {unknown[0]!r}")
    wanted = ["fp32", *[p for p in PRECISIONS[1:] if p in precisions]]
    if heads and output_kind == "logits":
        output_kind = HEAD_KINDS[heads[0].task]
    signature = Signature.of(
        inputs, outputs, example_input, preprocess, input_name, output_name, output_kind
    )
    _check_request(out, overwrite, wanted, calibration, evaluation, signature, bool(heads))
    graph = GraphNms.requested(heads, labels, signature.output_names[0]) if graph_nms else None
    heads = [graph.head] if graph is not None else heads
    detection = head_checks(heads, task, labels, signature, evaluation)
    modality = _modality(modality, signature)
    steps = tqdm(total=4 + len(wanted), desc=f"export {name}", unit="step", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="mmedge-export-") as tmp:
        scratch = Path(tmp)
        exported, fp32, unsimplified, simplification = _onnx_stage(
            model.eval(), signature, options.onnx, scratch
        )
        raw_fp32 = graph.prepare(fp32.path, unsimplified, scratch) if graph else fp32.path
        steps.update()
        base = base_manifest(name, modality, task, labels, signature, exported, description)
        if heads:
            base["heads"] = [h.to_dict() for h in heads]
        feeds = stage_feeds(
            scratch, base, signature, fp32.file, fp32.path, options.parity,
            calibration, evaluation, int8="int8" in wanted,
        )  # fmt: skip
        gate = ParityGate(
            model, signature, feeds, options.parity.gates(), name, unsimplified, detection
        )
        if graph is not None:  # the reference as the graph gives it: end2end rows
            graph.convert(gate.reference)
        signature.check_labels(labels, gate.reference)
        steps.update()
        artifacts = [gate.check(fp32)]
        steps.update()
        eval_labels: Any = None  # what gate.accuracy scores against
        if evaluation is not None:
            eval_labels = evaluation if detection else evaluation.labels  # type: ignore[union-attr]
        fp32_accuracy = gate.accuracy(fp32.path, eval_labels) if eval_labels is not None else None
        if "fp16" in wanted:
            fp16 = Candidate(FP16_FILE, "fp16", scratch / FP16_FILE)
            keep = FP32_OPS + (TAIL_OPS if graph is not None else ())
            onnx.save(to_fp16(onnx.load(str(fp32.path)), keep), str(fp16.path))
            artifacts.append(gate.check(fp16))
            steps.update()
        if "int8" in wanted:
            artifacts += int8_candidates(
                raw_fp32, scratch, gate, options.int8, fp32_accuracy, eval_labels, progress,
                float_tail=keeps_float_tail(detection),
                after=graph.append if graph else None,
            )  # fmt: skip
            steps.update()
        speeds = cpu_speeds({a.file: a.path for a in artifacts}, feeds.parity)
        files: dict[str, Path] = {a.file: a.path for a in artifacts}
        files.update(
            parity_fixture(feeds.parity, gate.reference, scratch, options.parity.fixture_bytes)
        )
        manifest = final_manifest(
            base, signature, gate.reference, artifacts, feeds.source, speeds,
            exported.opset, simplification,
        )  # fmt: skip
        manifest["reports"].update(accuracy={}, **(graph.reports if graph else {}))
        if evaluation is not None:
            staged = write_bundle(scratch / "staged.mmb", manifest, files)
            manifest["reports"]["accuracy"] = accuracy_report(
                staged, artifacts, evaluation, progress
            )
        steps.update()
        path = write_bundle(out, manifest, files, overwrite=overwrite)
    steps.update()
    steps.close()
    if progress:
        tqdm.write(summary(manifest))
    return path


__all__ = [
    "ModelInput",
    "ModelOutput",
    "backend_outputs",
    "export_bundle",
    "package_versions",
    "torch_outputs",
    "torch_reference",
]
