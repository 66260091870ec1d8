#!/usr/bin/env python3
"""Rebuilds the bundles that ship inside mmedge (sdk/bundles/) from public data.

    python scripts/build_bundles.py                    # data from $MMEDGE_DATA or ../shared/data

mnist_cnn: the tiny CNN trained on MNIST (about a minute on 2 CPU cores), exported at fp32, fp16
and int8 with parity against PyTorch, test-set accuracy and CPU speed in its manifest.
samples/digits.npz: rendered digit frames (examples and tests). scene_image, scene_audio,
scene_video: the `mmedge demo` models, trained on SyntheticScene's generator (under a
minute). Needs the `export` and `video` extras.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument(
        "--data",
        default=os.environ.get("MMEDGE_DATA", REPO.parent / "shared" / "data"),
        help="folder holding mnist/ (default: $MMEDGE_DATA or ../shared/data)",
    )
    parser.add_argument("--out", default=REPO / "sdk" / "bundles", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--weights",
        type=Path,
        default=REPO / "build" / "weights" / "mnist_cnn.pt",
        help="where to save the trained state_dict (for `mmedge validate --model`)",
    )
    args = parser.parse_args()

    import torch

    import mmedge
    from mmedge.export.recipes import render_digit_frames, save_frames, train_mnist
    from mmedge.export.summary import summary

    result = train_mnist(
        args.out / "mnist_cnn.mmb",
        data_root=args.data,
        epochs=args.epochs,
        precisions=("fp32", "fp16", "int8"),
    )
    args.weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), args.weights)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    print(
        f"mnist_cnn: trained {result.train.epochs} epochs in {result.train.seconds:.1f} s "
        f"(total with export and evaluation {result.total_seconds:.1f} s)"
    )
    print(summary(manifest))
    print(
        f"  exporter: {manifest['provenance']['exporter']}; bundle: {result.bundle}; "
        f"weights: {args.weights}"
    )

    from mmedge.export.recipes.scene import train_scene_bundles

    scene = train_scene_bundles(args.out, progress=False)
    for path in (scene.image, scene.audio, scene.video):
        print(summary(json.loads((path / "manifest.json").read_text())))

    frames, labels = render_digit_frames(seed=0)
    samples = REPO / "sdk" / "samples" / "digits.npz"
    save_frames(samples, frames, labels)
    model = mmedge.Model(result.bundle)
    correct = sum(model.predict(f).index == y for f, y in zip(frames, labels, strict=True))
    print(f"demo frames: {samples} ({len(frames)} rendered digits, {correct} classified correctly)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
