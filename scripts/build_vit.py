#!/usr/bin/env python3
"""Trains the zoo's transformer (TinyViT, export.zoo_vit) on MNIST and ships it as the built-in
bundle sdk/bundles/mnist_vit.mmb (fp32, fp16, int8 behind the parity and top-1 gates on all 10k
test images), with its figures in benchmarks/results/<machine>/vit.{json,md}: accuracy, ONNX
Runtime CPU latency and what stayed in float per precision.

    python scripts/build_vit.py                 # ~6 min on 2 CPU cores; data: $MMEDGE_DATA
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

WHY = {
    "Softmax": "fp16: exp overflows above ~11 and the sum needs float range; int8: not on the "
    "quantiser's list (it reads dequantised scores; ONNX Runtime's CPU provider may fuse it "
    "between the Q/DQ pairs into QLinearSoftmax)",
    "LayerNormalization": "fp16: mean and variance sum 64 terms; int8: the residual stream it "
    "normalises carries outliers that one int8 scale would flatten",
    "Erf": "GELU's erf is evaluated in float (not a quantised op)",
    "Div": "GELU's x / sqrt(2) (one per block): int8: not on the quantiser's list, float; fp16: "
    "computed in half",
}


def markdown(payload: dict[str, Any]) -> str:
    import common

    m = payload["manifest"]
    acc = m["reports"]["accuracy"]["artifacts"]
    speed = m["reports"]["speed"]
    lines = [
        "# A transformer in the zoo: TinyViT on MNIST",
        "",
        f"TinyViT (7x7 patches -> 16 tokens + class token, 4 pre-norm blocks, dim 64, 4 heads, "
        f"GELU MLP 128; {payload['parameters']:,} parameters) trained {payload['epochs']} epochs "
        f"on the 60k MNIST training images ({payload['train_seconds']:.0f} s on "
        f"{common.machine()['cpus']} CPUs); top-1 on all 10k test images through mmedge.Model; "
        "ONNX Runtime CPU latency at batch 1 from the export's speed report. Command: "
        "`python scripts/build_vit.py`.",
        "",
        "| artifact | precision | top-1 | drop (pts) | ORT CPU ms | vs fp32 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    fp32, fp32_ms = acc["model.onnx"], speed["model.onnx"]["median_ms"]
    for file, value in acc.items():
        ms = speed.get(file, {}).get("median_ms", float("nan"))
        precision = next(a["precision"] for a in m["artifacts"] if a["file"] == file)
        lines.append(
            f"| {file} | {precision} | {value:.2%} | {100 * (fp32 - value):+.2f} | "
            f"{ms:.3f} | {fp32_ms / ms:.2f}x |"
        )
    lines += ["", "What stayed in float:", ""]
    for file, ops in payload["float_ops"].items():
        if "int8" in ops:
            lines.append(
                f"- {file}: int8 {ops['int8']}; float {ops['float']}; put back in float by the "
                f"accuracy gate: {ops['excluded'] or 'none'}"
            )
        else:
            lines.append(f"- {file}: computed in float32: {ops}")
    lines += ["", "Why:", ""] + [f"- {op}: {why}" for op, why in WHY.items()] + [""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "sdk" / "bundles")
    args = parser.parse_args()

    import common

    from mmedge.export.recipes.vit import float_ops, train_vit
    from mmedge.export.summary import summary

    start = time.perf_counter()
    result = train_vit(args.out / "mnist_vit.mmb", epochs=args.epochs, seed=args.seed)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    payload = {
        "benchmark": "vit",
        "machine": common.machine(),
        "epochs": args.epochs,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "train_seconds": result.train.seconds,
        "total_seconds": time.perf_counter() - start,
        "float_ops": float_ops(result.bundle),
        "manifest": {k: manifest[k] for k in ("artifacts", "reports")},
    }
    md = markdown(payload)
    folder = common.write_results("vit", common.machine_tag(), payload, md)
    print(summary(manifest))
    print(md)
    print(f"bundle: {result.bundle}; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
