"""The manifest stage: what made the bundle (provenance), the artifact entries, the parity
fixture `mmedge validate` re-checks on the device, ONNX Runtime CPU speed of every artifact at
batch 1, and the recommendation ("int8 is not faster than fp32 on this CPU: use fp32")."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedge._version import __version__
from mmedge.export.gate import Candidate
from mmedge.export.onnx_export import OnnxExport
from mmedge.export.signature import Signature
from mmedge.export.staging import Feeds
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.speed import SpeedReport, time_backends

FIXTURE_FILES = {"parity/inputs.npz": "parity_inputs", "parity/reference.npz": "parity_reference"}


def package_versions() -> dict[str, str | None]:
    """Versions of what made a bundle (recorded in its provenance)."""
    versions: dict[str, str | None] = {"mmedge": __version__, "python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxscript", "onnxruntime", "onnxslim", "numpy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def base_manifest(
    name: str,
    modality: str,
    task: str,
    labels: Sequence[str] | None,
    signature: Signature,
    exported: OnnxExport,
    description: str | None,
) -> dict[str, Any]:
    """What the bundle is, before any artifact is checked: name, task, labels, preprocessing,
    provenance."""
    base: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "modality": modality,
        "task": task,
        "labels": list(labels or []),
        "preprocess": signature.preprocess_entries(),
        "provenance": {
            "exporter": exported.exporter,
            "fallback_reason": exported.fallback_reason,
            "versions": package_versions(),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    if description:
        base["description"] = description
    return base


def parity_fixture(
    feeds: Feeds, reference: Mapping[str, np.ndarray], scratch: Path, max_bytes: int
) -> dict[str, Path]:
    """The first samples of the parity inputs and PyTorch outputs (at most max_bytes)."""
    per_sample = sum(v[0].nbytes for v in feeds.values()) + sum(
        v[0].nbytes for v in reference.values()
    )
    n = len(next(iter(feeds.values())))
    keep = int(max(1, min(n, max_bytes // max(per_sample, 1))))
    paths = {
        "parity/inputs.npz": scratch / "inputs.npz",
        "parity/reference.npz": scratch / "reference.npz",
    }
    np.savez(paths["parity/inputs.npz"], **{k: v[:keep] for k, v in feeds.items()})
    np.savez(paths["parity/reference.npz"], **{k: v[:keep] for k, v in reference.items()})
    return paths


def cpu_speeds(paths: Mapping[str, Path], feeds: Feeds) -> dict[str, SpeedReport]:
    """ONNX Runtime CPU latency of every artifact at batch 1, timed interleaved."""
    backends = {f: OrtBackend(p, providers=["CPUExecutionProvider"]) for f, p in paths.items()}
    try:
        return time_backends(backends, {k: np.ascontiguousarray(v[:1]) for k, v in feeds.items()})
    finally:
        for b in backends.values():
            b.close()


def _slower_note(a: Candidate, ms: float, fp32_ms: float) -> str | None:
    ratio = fp32_ms / ms
    if ratio >= 1.0:
        return None
    slower = (
        f"{a.file} ({a.precision}) is not faster than fp32 on this CPU "
        f"({ms:.3f} ms vs {fp32_ms:.3f} ms, {ratio:.2f}x)"
    )
    if a.precision == "fp16":
        return f"{slower}: this CPU has no fast fp16 arithmetic; fp16 is for GPUs"
    if (a.qdq or {}).get("activations") == "int8":
        return (
            f"{slower}: int8 activations are the TensorRT form; on x86 CPUs the "
            "uint8-activation artifact is the fast one"
        )
    return (
        f"{slower}: quantise/dequantise overhead outweighs int8 arithmetic "
        "for this small model; use fp32 on CPU"
    )


def recommendation(
    artifacts: Sequence[Candidate], speeds: Mapping[str, SpeedReport]
) -> dict[str, Any]:
    """Which artifact to run on this CPU and why; a note for each one slower than fp32."""
    fastest = min(artifacts, key=lambda a: speeds[a.file].median_ms)
    fp32 = next(a for a in artifacts if a.precision == "fp32")
    fp32_ms = speeds[fp32.file].median_ms
    notes = [
        note
        for a in artifacts
        if a.precision != "fp32"
        and (note := _slower_note(a, speeds[a.file].median_ms, fp32_ms)) is not None
    ]
    cpu = fastest.file
    reason = f"fastest on this CPU: {speeds[cpu].median_ms:.3f} ms at batch 1 ({fastest.precision})"
    if fastest.precision == "fp32":
        reason += "; use fp32 for CPU"
    return {
        "cpu": {
            "artifact": cpu,
            "precision": fastest.precision,
            "reason": reason,
            "machine": speeds[cpu].machine,
        },
        "notes": notes,
    }


def final_manifest(
    base: Mapping[str, Any],
    signature: Signature,
    reference: Mapping[str, np.ndarray],
    artifacts: Sequence[Candidate],
    parity_source: str,
    speeds: Mapping[str, SpeedReport],
    opset: int,
    simplification: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The manifest of the checked artifacts (accuracy is added once measured through the
    written bundle)."""
    reports: dict[str, Any] = {
        "parity": {
            a.file: {
                "passed": a.passed,
                "source": parity_source,
                "outputs": {k: r.to_dict() for k, r in (a.parity or {}).items()},
            }
            for a in artifacts
        },
        "speed": {k: v.to_dict() for k, v in speeds.items()},
        "recommendation": recommendation(artifacts, speeds),
    }
    quantization = {a.file: a.quantization for a in artifacts if a.quantization}
    if quantization:
        reports["quantization"] = quantization
    if simplification:
        reports["simplification"] = dict(simplification)
    return {
        **base,
        "inputs": signature.manifest_inputs(),
        "outputs": signature.manifest_outputs(reference),
        "artifacts": [
            {
                "file": a.file,
                "format": "onnx",
                "precision": a.precision,
                "opset": opset,
                **({"qdq": a.qdq} if a.qdq else {}),
            }
            for a in artifacts
        ],
        "files": [{"file": f, "role": role} for f, role in FIXTURE_FILES.items()],
        "reports": reports,
    }
