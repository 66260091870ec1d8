"""What each task head adds to an export: the checks its gates use (parity on its own terms,
the staged accuracy the int8 stage bounds) and the accuracy report through mmedge.Model, per
task: classification (top-1), detection (COCO mAP), segmentation (mIoU), audio events (event
F1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge.errors import ExportError
from mmedge.export.data import BoxLabelled, EventLabelled, Labelled, MaskLabelled, MultiLabelled
from mmedge.export.detection_gate import DetectionChecks, model_map
from mmedge.export.event_gate import EventChecks, model_f1
from mmedge.export.gate import Candidate, model_accuracy
from mmedge.export.multi_task_gate import METRICS, MultiChecks, check_truths, model_head_scores
from mmedge.export.segmentation_gate import SegmentationChecks, model_miou
from mmedge.export.signature import HEAD_OUTPUT_KINDS, Signature
from mmedge.tasks import SegmentationHead
from mmedge.tasks.event_head import EventHead
from mmedge.tasks.heads import Head


def accuracy_report(
    staged: Path,
    artifacts: Sequence[Candidate],
    data: Labelled | BoxLabelled | MaskLabelled | EventLabelled | MultiLabelled,
    bar: bool,
) -> dict[str, Any]:
    """Top-1 accuracy (COCO mAP@0.5:0.95 for a detection set, mIoU for a segmentation set, event
    F1 for an audio events set, each head's own for a multi-task set) of every artifact
    through mmedge.Model on the staged bundle."""
    bar_artifacts = tqdm(artifacts, desc="accuracy", unit="artifact", disable=not bar, leave=False)
    if isinstance(data, MultiLabelled):
        return _multi_report(staged, artifacts, bar_artifacts, data)
    if isinstance(data, EventLabelled):
        scores = {a.file: model_f1(staged, a.file, data) for a in bar_artifacts}
        by_file = {file: m["f_measure"] for file, m in scores.items()}
        report: dict[str, Any] = {
            "metric": "event F1 (sed_eval, 200 ms collar)",
            "n_samples": len(data),
            "artifacts": by_file,
            "precision_recall": {f: [m["precision"], m["recall"]] for f, m in scores.items()},
        }
    elif isinstance(data, MaskLabelled):
        found = {a.file: model_miou(staged, a.file, data) for a in bar_artifacts}
        by_file = {file: float(m["miou"]) for file, m in found.items()}  # type: ignore[arg-type]
        report = {
            "metric": "mIoU (confusion matrix over every pixel)",
            "n_samples": len(data),
            "artifacts": by_file,
            "per_class_iou": {file: m["per_class"] for file, m in found.items()},
        }
    elif isinstance(data, BoxLabelled):
        maps = {a.file: model_map(staged, a.file, data) for a in bar_artifacts}
        by_file = {file: m["map50_95"] for file, m in maps.items()}
        report = {
            "metric": "mAP@0.5:0.95 (pycocotools)",
            "n_samples": len(data),
            "artifacts": by_file,
            "map50": {file: m["map50"] for file, m in maps.items()},
        }
    else:
        by_file = {a.file: model_accuracy(staged, a.file, data) for a in bar_artifacts}
        report = {"metric": "top1", "n_samples": len(data), "artifacts": by_file}
    for a in artifacts:
        report.setdefault(a.precision, by_file[a.file])
    return report


def _multi_report(
    staged: Path, artifacts: Sequence[Candidate], bar: Iterable[Candidate], data: MultiLabelled
) -> dict[str, Any]:
    """Per head, the accuracy_report of its task (mAP / mIoU per artifact)."""
    scores = {a.file: model_head_scores(staged, a.file, data) for a in bar}
    heads: dict[str, Any] = {}
    for name in data.truths:
        detection = isinstance(data.truths[name], BoxLabelled)
        by_file = {file: s[name]["value"] for file, s in scores.items()}
        extra = "map50" if detection else "per_class_iou"
        heads[name] = {
            "metric": METRICS["detection" if detection else "segmentation"],
            "artifacts": by_file,
            extra: {file: s[name][extra] for file, s in scores.items()},
        }
        for a in artifacts:
            heads[name].setdefault(a.precision, by_file[a.file])
    return {
        "metric": "per head: " + ", ".join(f"{n} {h['metric']}" for n, h in heads.items()),
        "n_samples": len(data),
        "heads": heads,
    }


HEAD_KINDS = {
    "detection": "detection_head",
    "segmentation": "segmentation_logits",
    "audio_events": "event_frames",
}  # the output kind of each head task


def keeps_float_tail(checks: Any) -> bool:
    """Whether int8 keeps the nodes after the last weighted layers in float: a detection
    head's decode (pixel boxes and 0..1 scores in one tensor), alone or among several heads."""
    if isinstance(checks, MultiChecks):
        return checks.has_detection
    return isinstance(checks, DetectionChecks)


def head_checks(
    heads: Sequence[Head],
    task: str,
    labels: Sequence[str] | None,
    signature: Signature,
    evaluation: Any = None,
) -> DetectionChecks | SegmentationChecks | EventChecks | MultiChecks | None:
    """The checks of a task-head export (None without heads; MultiChecks for several heads on
    one network, whose evaluation set must hold a truth per head), or what is missing for
    one."""
    if not heads:
        if task in HEAD_KINDS:
            raise ExportError(f"task {task!r} needs a head (heads=[...]: mmedge.tasks)")
        return None
    spec = signature.inputs[0].preprocess if len(signature.inputs) == 1 else None
    if len(heads) > 1 or task == "multi_task":
        if task != "multi_task" or len(heads) < 2 or not isinstance(spec, pp.ImageSpec):
            raise ExportError(
                "several heads need task='multi_task', at least two heads and one image input "
                "with an ImageSpec"
            )
        if any(isinstance(h, EventHead) for h in heads):
            raise ExportError("multi-task exports take detection and segmentation heads")
        names, outputs = [h.name for h in heads], [h.output for h in heads]
        if None in names or len(set(names)) < len(names):
            raise ExportError(f"each head of a multi-task export needs its own name, got {names}")
        if set(outputs) != {o.name for o in signature.outputs if o.kind in HEAD_OUTPUT_KINDS}:
            raise ExportError(
                f"each head reads its own output: heads read {outputs}, the head outputs are "
                f"{[o.name for o in signature.outputs if o.kind in HEAD_OUTPUT_KINDS]}"
            )
        if evaluation is not None:
            check_truths(heads, evaluation)  # type: ignore[arg-type]
        return MultiChecks(heads, labels, spec)  # type: ignore[arg-type]
    head = heads[0]
    if isinstance(head, EventHead):
        if task != "audio_events" or len(heads) != 1 or not isinstance(spec, pp.AudioSpec):
            raise ExportError(
                "an audio_events head needs task='audio_events', exactly one head and one audio "
                "input with an AudioSpec"
            )
        if not labels:
            raise ExportError("an audio_events export needs its class labels (labels=)")
        return EventChecks(head, labels)
    if task != head.task or len(heads) != 1 or not isinstance(spec, pp.ImageSpec):
        raise ExportError(
            f"a {head.task} head needs task={head.task!r}, exactly one head and one image input "
            "with an ImageSpec"
        )
    if not labels:
        raise ExportError(f"a {head.task} export needs its class labels (labels=)")
    if isinstance(head, SegmentationHead):
        return SegmentationChecks(head, labels, spec)
    return DetectionChecks(head, labels, spec)
