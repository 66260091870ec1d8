#!/usr/bin/env python3
"""Trains the zoo segmenter on digit strokes composited onto real frames and ships it as the
built-in bundle sdk/bundles/digit_segmenter.mmb (fp32, fp16, int8 behind the pixel-class parity
and mIoU gates), with its figures in benchmarks/results/<machine>/segmenter.{json,md}.

    python scripts/build_segmenter.py           # ~12 min on 2 CPU cores; data: $MMEDGE_DATA

Data (export.recipes.digit_boxes.make_mask_split, reproducible from the seed, never stored):
training images from MNIST training digits over vtest.avi and box.mp4; evaluation images from
MNIST test digits (other writers) over cup.mp4, a clip training never sees. The masks are the
digits' strokes (ink coverage > 0.5), class = the digit, background 0. mIoU over the 11
classes at the frames' own resolution (640x480), every pixel of every frame.
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


def markdown(payload: dict[str, Any], accuracy: dict[str, Any], parity: dict[str, str]) -> str:
    import common

    lines = [
        "# Zoo segmenter on the held-out clip",
        "",
        f"TinySegmenter trained on {payload['data']['train_images']} composited frames "
        f"({payload['epochs']} epochs, {payload['train_seconds'] or 0:.0f} s on "
        f"{common.machine()['cpus']} CPUs); evaluated on {payload['data']['eval_images']} "
        "frames of cup.mp4 with MNIST test digits through mmedge.Model (masks at 640x480 by "
        "mmedge._C.segment), mIoU over 11 classes (background + 10 digits). Command: "
        "`python scripts/build_segmenter.py`.",
        "",
        "| artifact | mIoU | digits' mean IoU | pixel classes vs PyTorch |",
        "|---|---:|---:|---|",
    ]
    for file, value in accuracy["artifacts"].items():
        per = accuracy["per_class_iou"][file]
        digits = [v for k, v in per.items() if k != "background" and v is not None]
        lines.append(
            f"| {file} | {value:.4f} | {sum(digits) / len(digits):.4f} | {parity.get(file, '')} |"
        )
    lines += ["", f"PyTorch fp32: mIoU {payload['pytorch_miou']:.4f}.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=3000)
    parser.add_argument("--eval-images", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "sdk" / "bundles")
    parser.add_argument("--weights", type=Path, help="a state_dict this recipe trained")
    parser.add_argument("--train-seconds", type=float, help="with --weights: its training (s)")
    args = parser.parse_args()

    import common
    import torch

    from mmedge.export.recipes.digit_boxes import make_mask_split
    from mmedge.export.recipes.segmentation import export_segmenter, torch_miou, train_segmenter
    from mmedge.export.summary import summary
    from mmedge.export.zoo_segmenter import TinySegmenter

    start = time.perf_counter()
    train = make_mask_split("train", args.train_images, seed=args.seed)
    evaluation = make_mask_split("eval", args.eval_images, seed=args.seed)
    calibration = make_mask_split("train", 128, seed=args.seed + 1)
    if args.weights:
        model = TinySegmenter()
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        train_seconds = args.train_seconds
    else:
        model, result = train_segmenter(train, epochs=args.epochs, seed=args.seed)
        train_seconds = result.seconds
        weights = REPO / "build" / "weights" / "digit_segmenter.pt"
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
    reference = torch_miou(model, evaluation)
    bundle = export_segmenter(
        model, args.out / "digit_segmenter.mmb", calibration=calibration, evaluation=evaluation
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    accuracy = manifest["reports"]["accuracy"]
    parity = {
        f: next(n for o in r["outputs"].values() for n in o["notes"] if "pixel classes" in n)
        for f, r in manifest["reports"]["parity"].items()
    }
    payload = {
        "benchmark": "segmenter",
        "machine": common.machine(),
        "data": {
            "train_images": args.train_images,
            "eval_images": args.eval_images,
            "seed": args.seed,
        },
        "epochs": args.epochs,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
        "pytorch_miou": reference,
        "miou": accuracy["artifacts"],
        "per_class_iou": accuracy["per_class_iou"],
        "pixel_parity": parity,
    }
    md = markdown(payload, accuracy, parity)
    folder = common.write_results("segmenter", common.machine_tag(), payload, md)
    print(summary(manifest))
    print(md)
    print(f"bundle: {bundle}; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
