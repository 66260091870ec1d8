#!/usr/bin/env python3
"""Trains the zoo's sound event detector (TinySED) on FSDD digits placed into real background
sound and ships it as the built-in bundle sdk/bundles/digit_events.mmb (fp32, fp16, int8 behind
the frame-score parity and event-F1 gates), with its figures in
benchmarks/results/<machine>/sed.{json,md}: event F1 by sed_eval (200 ms onset collar, offset
within 200 ms or 20% of the event) per precision and per SNR, on a speaker training never hears.

    python scripts/build_sed.py                 # ~10 min on 2 CPU cores; data: $MMEDGE_DATA
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


def markdown(payload: dict[str, Any]) -> str:
    import common

    lines = [
        "# Sound event detection: spoken digits in real background sound",
        "",
        f"TinySED trained {payload['epochs']} epochs on {payload['train_clips']} clips of 6 s "
        f"(FSDD digits of 4 speakers over a real bird recording, SNR 0/10/20 dB; "
        f"{payload['train_seconds']:.0f} s on {common.machine()['cpus']} CPUs); evaluated "
        f"through mmedge.Model on {payload['eval_clips']} clips per SNR with an unseen speaker "
        "(lucas) over the same background (the only real one). Event-based F1 by sed_eval "
        "(onset collar 200 "
        "ms, offset within 200 ms or 20% of the event, micro over the 10 classes). Command: "
        "`python scripts/build_sed.py`.",
        "",
        "| artifact | F1 (all SNRs) | "
        + " | ".join(f"F1 at {s:.0f} dB" for s in payload["snrs"])
        + " |",
        "|---|---:|" + "---:|" * len(payload["snrs"]),
    ]
    for file, f1 in payload["f1"].items():
        per = payload["f1_by_snr"][file]
        lines.append(f"| {file} | {f1:.3f} | " + " | ".join(f"{per[str(s)]:.3f}" for s in
                                                             payload["snrs"]) + " |")  # fmt: skip
    lines += ["", f"PyTorch fp32 (all SNRs): F1 {payload['pytorch_f1']['f_measure']:.3f}.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-clips", type=int, default=1600)
    parser.add_argument("--eval-clips", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "sdk" / "bundles")
    args = parser.parse_args()

    import common

    from mmedge.export.event_gate import model_f1
    from mmedge.export.recipes.sed import export_sed, torch_f1, train_sed
    from mmedge.export.recipes.sound_events import SNRS, make_event_split
    from mmedge.export.summary import summary

    start = time.perf_counter()
    train = make_event_split("train", args.train_clips, seed=args.seed)
    evaluation = make_event_split("eval", args.eval_clips, seed=args.seed)
    calibration = make_event_split("train", 64, seed=args.seed + 1)
    model, result = train_sed(train, epochs=args.epochs, seed=args.seed)
    reference = torch_f1(model, evaluation)
    bundle = export_sed(
        model, args.out / "digit_events.mmb", calibration=calibration, evaluation=evaluation
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = list(manifest["reports"]["accuracy"]["artifacts"])
    by_snr: dict[str, dict[str, float]] = {f: {} for f in files}
    for snr in SNRS:
        clips = make_event_split("eval", args.eval_clips, seed=args.seed + 100, snrs=(snr,))
        for f in files:
            by_snr[f][str(snr)] = model_f1(bundle, f, clips)["f_measure"]
    payload = {
        "benchmark": "sed",
        "machine": common.machine(),
        "train_clips": args.train_clips,
        "eval_clips": args.eval_clips,
        "epochs": args.epochs,
        "snrs": list(SNRS),
        "train_seconds": result.seconds,
        "total_seconds": time.perf_counter() - start,
        "pytorch_f1": reference,
        "f1": manifest["reports"]["accuracy"]["artifacts"],
        "precision_recall": manifest["reports"]["accuracy"]["precision_recall"],
        "f1_by_snr": by_snr,
    }
    md = markdown(payload)
    folder = common.write_results("sed", common.machine_tag(), payload, md)
    print(summary(manifest))
    print(md)
    print(f"bundle: {bundle}; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
