"""The table `mmedge export` prints at the end (and benchmarks/export_report.py collects):
per artifact its parity against PyTorch, accuracy, ONNX Runtime CPU speed and the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def artifact_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per artifact: file, precision, activations, parity (worst output), accuracy,
    drop vs fp32 (points), median ms, speed-up vs fp32."""
    reports = manifest["reports"]
    accuracy = reports.get("accuracy", {}).get("artifacts", {})
    speed = reports.get("speed", {})
    fp32_file = next(
        a["file"]
        for a in manifest["artifacts"]
        if a["precision"] == "fp32" and a["format"] == "onnx"
    )
    fp32_ms = speed.get(fp32_file, {}).get("median_ms")
    rows = []
    for a in manifest["artifacts"]:
        parity = reports.get("parity", {}).get(a["file"], {})
        outputs = parity.get("outputs", {})
        worst_abs = max((r["max_abs"] for r in outputs.values()), default=None)
        top1 = [
            r["top1_agreement"] for r in outputs.values() if r.get("top1_agreement") is not None
        ]
        cos = [r.get("mean_cosine") for r in outputs.values() if r.get("mean_cosine") is not None]
        ms = speed.get(a["file"], {}).get("median_ms")
        acc = accuracy.get(a["file"])
        rows.append(
            {
                "artifact": a["file"],
                "precision": a["precision"],
                "activations": (a.get("qdq") or {}).get("activations", "-"),
                "parity": "PASS" if parity.get("passed") else ("-" if not parity else "FAIL"),
                "max_abs": worst_abs,
                "top1_agreement": min(top1) if top1 else None,
                "mean_cosine": min(cos) if cos else None,
                "accuracy": acc,
                "drop_pts": None
                if acc is None or accuracy.get(fp32_file) is None
                else 100 * (accuracy[fp32_file] - acc),
                "median_ms": ms,
                "speedup": None if ms is None or fp32_ms is None else fp32_ms / ms,
            }
        )
    return rows


def _fmt(value: Any, spec: str, none: str = "-") -> str:
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
    reports = manifest["reports"]
    acc = reports.get("accuracy", {})
    lines = [
        f"bundle {manifest['name']} ({manifest['modality']}, exporter "
        f"{manifest['provenance']['exporter']})"
    ]
    if acc:
        lines.append(
            f"accuracy: top-1 on {acc['n_samples']} held-out samples through "
            "mmedge.Model (ONNX Runtime CPU)"
        )
    lines.append(markdown_table(manifest))
    rec = reports.get("recommendation", {})
    if rec.get("cpu"):
        lines.append(f"recommended on this CPU: {rec['cpu']['artifact']}: {rec['cpu']['reason']}")
    lines += [f"note: {n}" for n in rec.get("notes", [])]
    for file, q in reports.get("quantization", {}).items():
        if q.get("excluded_nodes"):
            lines.append(
                f"{file}: kept in float to meet the accuracy bound: "
                f"{', '.join(q['excluded_nodes'])}"
            )
    return "\n".join(lines)
