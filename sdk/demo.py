"""`mmedge demo`: the built-in MNIST bundle on the built-in rendered digit frames, end to end
through the C++ preprocessing kernel and ONNX Runtime, with a latency table."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.model import Model


def sample_frames() -> tuple[list[np.ndarray], np.ndarray]:
    """The demo's frames (uint8 (H, W), several sizes) and their true digits."""
    path = resources.files("mmedge").joinpath("samples", "digits.npz")
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as data:
        keys = sorted(k for k in data.files if k.startswith("frame_"))
        return [data[k] for k in keys], data["labels"]


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    return {
        "count": int(v.size),
        "p50": float(np.percentile(v, 50)),
        "p95": float(np.percentile(v, 95)),
        "p99": float(np.percentile(v, 99)),
        "max": float(v.max()),
    }


def run(
    bundle: str | Path | None = None,
    backend: str = "auto",
    as_json: bool = False,
    emit: Callable[[str], None] = print,
) -> int:
    """Runs the demo; returns the process exit code (0 when it ran)."""
    from mmedge import builtin_bundle

    frames, labels = sample_frames()
    with Model(bundle or builtin_bundle("mnist_cnn"), backend=backend) as model:
        model.predict(frames[0])  # warm-up: first-run allocations are not what a robot sees
        rows: list[dict[str, Any]] = []
        for i, (frame, truth) in enumerate(zip(frames, labels, strict=True)):
            p = model.predict(frame)
            rows.append(
                {
                    "frame": i,
                    "size": f"{frame.shape[1]}x{frame.shape[0]}",
                    "true": int(truth),
                    "predicted": p.label,
                    "score": p.score,
                    "preprocess_ms": p.preprocess_ms,
                    "infer_ms": p.infer_ms,
                    "latency_ms": p.latency_ms,
                }
            )
        description = model.describe()
    correct = sum(r["predicted"] == str(r["true"]) for r in rows)
    stages = {
        name: latency_summary([r[f"{name}_ms"] for r in rows])
        for name in ("preprocess", "infer", "latency")
    }
    if as_json:
        emit(
            json.dumps(
                {"model": description, "results": rows, "correct": correct, "latency_ms": stages},
                indent=2,
            )
        )
        return 0
    emit(
        f"mmedge demo: {description['bundle']} ({description['artifact']['format']} "
        f"{description['artifact']['precision']}) on {description['backend']} "
        f"[{', '.join(description.get('providers', []))}]"
    )
    emit(f"{'frame':>5} {'size':>8} {'true':>4} {'pred':>4} {'score':>6} {'ms':>7}")
    for r in rows:
        mark = "" if r["predicted"] == str(r["true"]) else "  <- wrong"
        emit(
            f"{r['frame']:>5} {r['size']:>8} {r['true']:>4} {r['predicted']:>4} "
            f"{r['score']:>6.3f} {r['latency_ms']:>7.3f}{mark}"
        )
    emit(f"{correct}/{len(rows)} correct")
    emit(f"{'stage':<12} {'count':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, label in (
        ("preprocess", "preprocess"),
        ("infer", "infer"),
        ("latency", "end-to-end"),
    ):
        s = stages[name]
        emit(
            f"{label:<12} {s['count']:>5} {s['p50']:>8.3f} {s['p95']:>8.3f} {s['p99']:>8.3f} "
            f"{s['max']:>8.3f}"
        )
    return 0
