"""The table `mmedge export` prints at the end (and benchmarks/export_report.py collects):
per artifact its parity against PyTorch, accuracy, ONNX Runtime CPU speed and the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedge.bundle.manifest import Manifest, ParityStatus


def _worst(status: ParityStatus | None) -> tuple[float | None, float | None, float | None]:
    """(largest max_abs, lowest top-1 agreement, lowest mean cosine) over the outputs."""
    outputs = list(status.outputs.values()) if status is not None else []
    top1 = [r["top1_agreement"] for r in outputs if r.get("top1_agreement") is not None]
    cos = [r["mean_cosine"] for r in outputs if r.get("mean_cosine") is not None]
    return (
        max((r["max_abs"] for r in outputs), default=None),
        min(top1) if top1 else None,
        min(cos) if cos else None,
    )


def artifact_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per artifact: file, precision, activations, parity (worst output), accuracy (a
    mapping head name -> figure for a multi-task bundle), drop vs fp32 (points; the largest of
    the heads'), median ms, speed-up vs fp32."""
    view = Manifest(manifest, Path("."))
    report = view.report("accuracy")
    # one figure per artifact, or (a multi-task bundle) one per head by the head's name
    per_head = {n: h.get("artifacts", {}) for n, h in report.get("heads", {"": report}).items()}
    fp32 = next(a.file for a in view.artifacts if a.precision == "fp32" and a.format == "onnx")
    fp32_ms = (view.speed(fp32) or {}).get("median_ms")
    rows = []
    for a in view.artifacts:
        status = view.parity(a.file)
        worst_abs, top1, cos = _worst(status)
        ms = (view.speed(a.file) or {}).get("median_ms")
        found = {n: by_file.get(a.file) for n, by_file in per_head.items()}
        drops = [
            100 * (per_head[n][fp32] - v)
            for n, v in found.items()
            if v is not None and per_head[n].get(fp32) is not None
        ]
        acc: Any = found.get("") if list(found) == [""] else found
        rows.append(
            {
                "artifact": a.file,
                "precision": a.precision,
                "activations": a.activations or "-",
                "parity": "-" if status is None else ("PASS" if status.passed else "FAIL"),
                "max_abs": worst_abs,
                "top1_agreement": top1,
                "mean_cosine": cos,
                "accuracy": acc,
                "drop_pts": max(drops) if drops else None,
                "median_ms": ms,
                "speedup": None if ms is None or fp32_ms is None else fp32_ms / ms,
            }
        )
    return rows


def _fmt(value: Any, spec: str, none: str = "-") -> str:
    if isinstance(value, Mapping):  # per head
        return " / ".join(f"{name} {_fmt(v, spec, none)}" for name, v in value.items())
    return none if value is None else format(value, spec)


def markdown_table(manifest: Mapping[str, Any]) -> str:
    head = (
        "| artifact | precision | activations | parity | max abs | top-1 agree | mean cos | "
        "accuracy | drop (pts) | ORT CPU ms | vs fp32 |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in artifact_rows(manifest):
        lines.append(
            f"| {r['artifact']} | {r['precision']} | {r['activations']} | {r['parity']} | "
            f"{_fmt(r['max_abs'], '.2g')} | {_fmt(r['top1_agreement'], '.2%')} | "
            f"{_fmt(r['mean_cosine'], '.5f')} | {_fmt(r['accuracy'], '.2%')} | "
            f"{_fmt(r['drop_pts'], '+.2f')} | {_fmt(r['median_ms'], '.3f')} | "
            f"{_fmt(r['speedup'], '.2f')}x |"
        )
    return "\n".join(lines)


def summary(manifest: Mapping[str, Any]) -> str:
    """The table plus the recommendation, for a terminal."""
    view = Manifest(manifest, Path("."))
    acc = view.report("accuracy")
    lines = [f"bundle {view.name} ({view.modality}, exporter {view.exporter})"]
    if acc:
        metric = "top-1" if acc.get("metric", "top1") == "top1" else acc["metric"]
        lines.append(
            f"accuracy: {metric} on {acc['n_samples']} held-out samples through "
            "mmedge.Model (ONNX Runtime CPU)"
        )
    lines.append(markdown_table(manifest))
    rec = view.report("recommendation")
    if rec.get("cpu"):
        lines.append(f"recommended on this CPU: {rec['cpu']['artifact']}: {rec['cpu']['reason']}")
    lines += [f"note: {n}" for n in rec.get("notes", [])]
    for file, q in view.report("quantization").items():
        if q.get("excluded_nodes"):
            lines.append(
                f"{file}: kept in float to meet the accuracy bound: "
                f"{', '.join(q['excluded_nodes'])}"
            )
    return "\n".join(lines)
