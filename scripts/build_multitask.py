#!/usr/bin/env python3
"""Trains the zoo's two-head network (boxes and strokes of digits from one encoder) and ships it
as the built-in multi-task bundle sdk/bundles/digit_multitask.mmb (fp32, fp16, int8, each head
behind its own parity and accuracy gates), with its figures in
benchmarks/results/<machine>/multitask.{json,md}: each head's figure per artifact, and the time
of one multi-task prediction against the two single-task built-ins (digit_detector then
digit_segmenter) on the same frames, in the same run.

    python scripts/build_multitask.py           # ~30 min on 2 CPU cores; data: $MMEDGE_DATA

Data (export.recipes.digit_boxes.make_multi_split, reproducible from the seed, never stored):
training images from MNIST training digits over vtest.avi and box.mp4, evaluation images from
MNIST test digits (other writers) over cup.mp4, a clip training never sees; each image with
its digits' boxes and their strokes' masks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def time_predict(bundles: list[str], frames: list[Any], repeats: int) -> dict[str, float]:
    """Median and p90 ms of predicting each frame with every bundle in turn (fp32, ONNX Runtime
    CPU, batch 1), after a warm-up."""
    import mmedge

    models = [mmedge.Model(b, precision="fp32", backend="ort") for b in bundles]
    try:
        for m in models:
            m.predict(frames[0])
        times = []
        for _ in range(repeats):
            for frame in frames:
                t0 = time.perf_counter()
                for m in models:
                    m.predict(frame)
                times.append((time.perf_counter() - t0) * 1e3)
    finally:
        for m in models:
            m.close()
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))]}


def compare_timing(bundle: str, frames: list[Any], repeats: int = 3) -> dict[str, Any]:
    """The multi-task bundle against the two single-task built-ins, same frames, same run."""
    import mmedge

    pair = [mmedge.builtin_bundle("digit_detector"), mmedge.builtin_bundle("digit_segmenter")]
    return {
        "frames": len(frames),
        "repeats": repeats,
        "multitask": time_predict([bundle], frames, repeats),
        "two_models": time_predict(pair, frames, repeats),
    }


def markdown(payload: dict[str, Any]) -> str:
    import common

    heads = payload["heads"]
    lines = [
        "# Zoo multi-task network on the held-out clip",
        "",
        f"TinyMultiTask (one encoder, a detection head 'digits' and a segmentation head "
        f"'strokes') trained on {payload['data']['train_images']} composited frames "
        f"({payload['epochs']} epochs, {payload['train_seconds'] or 0:.0f} s on "
        f"{common.machine()['cpus']} CPUs); evaluated on {payload['data']['eval_images']} "
        "frames of cup.mp4 with MNIST test digits through mmedge.Model: boxes by COCO "
        "mAP@0.5:0.95 (pycocotools) in frame pixels, strokes by mIoU over 11 classes at "
        "640x480. Command: `python scripts/build_multitask.py`.",
        "",
        "| artifact | digits mAP@0.5:0.95 | digits mAP@0.5 | strokes mIoU |",
        "|---|---:|---:|---:|",
    ]
    for file, value in heads["digits"]["artifacts"].items():
        lines.append(
            f"| {file} | {value:.4f} | {heads['digits']['map50'][file]:.4f} | "
            f"{heads['strokes']['artifacts'][file]:.4f} |"
        )
    ref = payload["pytorch"]
    t = payload["timing"]
    lines += [
        "",
        f"PyTorch fp32: digits mAP@0.5:0.95 {ref['digits']:.4f} (network pixels), strokes "
        f"mIoU {ref['strokes']:.4f}.",
        "",
        f"One prediction with both heads vs the two single-task built-ins on the same "
        f"{t['frames']} frames (fp32, ONNX Runtime CPU, batch 1, {t['repeats']} passes, same "
        "run):",
        "",
        "| what | median ms | p90 ms |",
        "|---|---:|---:|",
        f"| digit_multitask (boxes + strokes) | {t['multitask']['median_ms']:.2f} | "
        f"{t['multitask']['p90_ms']:.2f} |",
        f"| digit_detector then digit_segmenter | {t['two_models']['median_ms']:.2f} | "
        f"{t['two_models']['p90_ms']:.2f} |",
        "",
        f"Ratio: {t['two_models']['median_ms'] / t['multitask']['median_ms']:.2f}x (the two "
        "single-task networks are wider than the shared one: this compares what a user would "
        "run, not equal networks).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--eval-images", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration-images", type=int, default=256)
    parser.add_argument("--calibration-method", default="minmax")
    parser.add_argument("--out", type=Path, default=REPO / "sdk" / "bundles")
    parser.add_argument("--weights", type=Path, help="a state_dict this recipe trained")
    parser.add_argument("--train-seconds", type=float, help="with --weights: its training (s)")
    args = parser.parse_args()

    import common
    import torch

    from mmedge.export.recipes.digit_boxes import make_multi_split
    from mmedge.export.recipes.multi_task import export_multitask, torch_scores, train_multitask
    from mmedge.export.summary import summary
    from mmedge.export.zoo_multitask import TinyMultiTask

    start = time.perf_counter()
    evaluation = make_multi_split("eval", args.eval_images, seed=args.seed)
    calibration = make_multi_split("train", args.calibration_images, seed=args.seed + 1)
    if args.weights:
        model = TinyMultiTask()
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        train_seconds = args.train_seconds
    else:
        train = make_multi_split("train", args.train_images, seed=args.seed)
        model, result = train_multitask(train, epochs=args.epochs, seed=args.seed)
        train_seconds = result.seconds
        weights = REPO / "build" / "weights" / "digit_multitask.pt"
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
    reference = torch_scores(model, evaluation)
    bundle = export_multitask(
        model,
        args.out / "digit_multitask.mmb",
        calibration=calibration,
        evaluation=evaluation,
        calibration_method=args.calibration_method,
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    timing = compare_timing(str(bundle), evaluation.samples[:50])
    payload = {
        "benchmark": "multitask",
        "machine": common.machine(),
        "data": {
            "train_images": args.train_images,
            "eval_images": args.eval_images,
            "seed": args.seed,
        },
        "epochs": args.epochs,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
        "pytorch": reference,
        "heads": manifest["reports"]["accuracy"]["heads"],
        "parity": {
            f: {o: r["outputs"][o]["notes"] for o in r["outputs"]}
            for f, r in manifest["reports"]["parity"].items()
        },
        "timing": timing,
    }
    md = markdown(payload)
    folder = common.write_results("multitask", common.machine_tag(), payload, md)
    print(summary(manifest))
    print(md)
    print(f"bundle: {bundle}; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
