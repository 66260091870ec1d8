#!/usr/bin/env python3
"""Trains the zoo detector on digits composited onto real frames and ships it as the built-in
bundle sdk/bundles/digit_detector.mmb (fp32, fp16, int8 behind the box-parity and mAP gates),
with its figures in benchmarks/results/<machine>/detector.{json,md}.

    python scripts/build_detector.py            # ~15 min on 2 CPU cores; data: $MMEDGE_DATA

Data (export.recipes.digit_boxes, reproducible from the seed, never stored): training images
from MNIST training digits over vtest.avi and box.mp4; evaluation images from MNIST test digits
(other writers) over cup.mp4 (a clip training never sees). mAP by pycocotools.
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


def markdown(
    payload: dict[str, Any],
    accuracy: dict[str, Any],
    parity: dict[str, list[str]],
    reference: dict[str, float],
) -> list[str]:
    """The results table, one row per artifact."""
    import common

    data = payload["data"]
    train_seconds = payload["train_seconds"]
    lines = [
        "# Zoo detector on the held-out clip",
        "",
        f"TinyDetector trained on {data['train_images']} composited frames "
        f"({payload['epochs']} epochs, "
        f"{train_seconds or 0:.0f} s on {common.machine()['cpus']} CPUs); evaluated on "
        f"{data['eval_images']} frames of cup.mp4 with MNIST test digits "
        f"({payload['data']['eval_boxes']} boxes) through mmedge.Model, mAP by pycocotools. "
        "Command: `python scripts/build_detector.py`.",
        "",
        "| artifact | mAP@0.5:0.95 | mAP@0.5 | box parity vs PyTorch |",
        "|---|---:|---:|---|",
    ]
    for file, value in accuracy["artifacts"].items():
        lines.append(
            f"| {file} | {value:.4f} | {accuracy['map50'][file]:.4f} | "
            f"{'; '.join(parity.get(file, []))} |"
        )
    lines += [
        "",
        f"PyTorch fp32 in network pixels: mAP@0.5:0.95 {reference['map50_95']:.4f}, "
        f"mAP@0.5 {reference['map50']:.4f}.",
        "",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=5000)
    parser.add_argument("--eval-images", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "sdk" / "bundles")
    parser.add_argument(
        "--weights", type=Path, help="a state_dict this recipe trained: skip training"
    )
    parser.add_argument(
        "--train-seconds", type=float, help="with --weights: how long that training took (s)"
    )
    args = parser.parse_args()

    import common
    import torch

    from mmedge.export.recipes.detection import export_detector, torch_map, train_detector
    from mmedge.export.recipes.digit_boxes import make_split
    from mmedge.export.summary import summary
    from mmedge.export.zoo_detector import TinyDetector

    start = time.perf_counter()
    train = make_split("train", args.train_images, seed=args.seed)
    evaluation = make_split("eval", args.eval_images, seed=args.seed)
    calibration = make_split("train", 256, seed=args.seed + 1)
    if args.weights:
        model = TinyDetector()
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        train_seconds = args.train_seconds
    else:
        model, result = train_detector(train, epochs=args.epochs, seed=args.seed)
        train_seconds = result.seconds
        weights = REPO / "build" / "weights" / "digit_detector.pt"
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
    reference = torch_map(model, evaluation)
    bundle = export_detector(
        model, args.out / "digit_detector.mmb", calibration=calibration, evaluation=evaluation
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    accuracy = manifest["reports"]["accuracy"]
    parity = {
        f: [n for o in r["outputs"].values() for n in o["notes"] if n.startswith("boxes")]
        for f, r in manifest["reports"]["parity"].items()
    }
    payload = {
        "benchmark": "detector",
        "machine": common.machine(),
        "data": {
            "train_images": args.train_images,
            "eval_images": args.eval_images,
            "eval_boxes": int(sum(len(b) for b in evaluation.boxes)),
            "seed": args.seed,
        },
        "epochs": args.epochs,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
        "pytorch_map_network_px": reference,
        "map50_95": accuracy["artifacts"],
        "map50": accuracy["map50"],
        "box_parity": parity,
    }
    lines = markdown(payload, accuracy, parity, reference)
    folder = common.write_results("detector", common.machine_tag(), payload, "\n".join(lines))
    print(summary(manifest))
    print("\n".join(lines))
    print(f"bundle: {bundle}; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
