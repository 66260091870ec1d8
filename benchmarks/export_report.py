#!/usr/bin/env python3
"""Export report: every reference model of mmedge.export.zoo exported at fp32, fp16 and int8,
with parity against PyTorch, accuracy on held-out real data where the model is trained on it,
and ONNX Runtime CPU latency at batch 1 timed interleaved (all artifacts of a model in one run,
rotating order), at 1 and 2 threads.

Models and data:
  mnist_cnn       TinyCNN trained 3 epochs on MNIST; accuracy on the 10k test images
  fsdd_cnn        audio CNN over 40 MFCC, trained on FSDD takes 5-49; accuracy on takes 0-4
  fsdd_crnn       conv + bidirectional GRU over 40 log-mel bands; same data
  resnet18_like   ResNet-18 shape, 224x224, untrained weights with BatchNorm statistics from
                  real frames (../shared/data/video_clips); parity and speed only
  video_r2plus1d  small R(2+1)D over 16 x 112x112 clips of the real videos; parity and speed
  fusion_head     learned fusion over a 64-d and a 128-d embedding; parity and speed

    python benchmarks/export_report.py   # -> benchmarks/results/<machine>/export_report.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import torch
from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge.bundle import Bundle
from mmedge.export import export_bundle
from mmedge.export.bundle_export import ModelInput
from mmedge.export.data import Labelled
from mmedge.export.presets import PRESETS
from mmedge.export.recipes import train_fsdd, train_mnist
from mmedge.export.summary import artifact_rows, markdown_table
from mmedge.export.zoo import fusion_head, resnet18_like, video_r2plus1d
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.validate import load_fixture

PRECISIONS = ("fp32", "fp16", "int8")


def video_frames(data: Path, n: int) -> list[np.ndarray]:
    import cv2

    frames: list[np.ndarray] = []
    for name in ("vtest.avi", "box.mp4", "cup.mp4"):
        cap = cv2.VideoCapture(str(data / "video_clips" / name))
        while len(frames) < n * (1 + ["vtest.avi", "box.mp4", "cup.mp4"].index(name)) // 3 + n:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
    return frames[:n]


def recalibrate_batchnorm(model: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    """Sets BatchNorm running statistics from real inputs (no gradient step): an untrained
    network then has realistic activation ranges for parity and int8 calibration."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for b in batches:
            model(b)
    model.eval()


def export_untrained(
    name: str,
    model: torch.nn.Module,
    spec: pp.Spec | None,
    example: torch.Tensor,
    samples: list[Any],
    out: Path,
    modality: str,
    description: str,
) -> Path:
    data = Labelled(samples, np.zeros(len(samples), np.int64), [])
    return export_bundle(
        model,
        out / f"{name}.mmb",
        name=name,
        description=description,
        inputs=[
            ModelInput({"image": "image", "video": "clip"}.get(modality, "input"), example, spec)
        ],
        labels=[str(i) for i in range(10)],
        modality=modality,
        precisions=PRECISIONS,
        calibration=data,
        parity_data=data,
        overwrite=True,
        progress=False,
    )


def build_bundles(data: Path, out: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    bundles = {}
    steps = tqdm(total=6, desc="export models", unit="model")
    bundles["mnist_cnn"] = train_mnist(
        out / "mnist_cnn.mmb", data_root=data, epochs=3, precisions=PRECISIONS, progress=False
    ).bundle
    steps.update()
    for arch in ("cnn", "crnn"):
        bundles[f"fsdd_{arch}"] = train_fsdd(
            out / f"fsdd_{arch}.mmb", arch, data_root=data, precisions=PRECISIONS, progress=False
        ).bundle
        steps.update()
    spec = PRESETS["imagenet-224"]
    frames = video_frames(data, 96)
    resnet = resnet18_like(num_classes=10)
    recalibrate_batchnorm(
        resnet,
        [torch.from_numpy(pp.image_batch(frames[i : i + 16], spec)) for i in range(0, 64, 16)],
    )
    bundles["resnet18_like"] = export_untrained(
        "resnet18_like",
        resnet,
        spec,
        torch.zeros(1, 3, 224, 224),
        frames[64:96],
        out,
        "image",
        "ResNet-18-shaped CNN at 224x224, untrained (BatchNorm statistics from 64 real frames of "
        "../shared/data/video_clips); calibrated and parity-checked on 32 other real frames",
    )
    steps.update()
    vspec = PRESETS["kinetics-112"]
    clip_frames = video_frames(data, 16 * 40)
    clips = [np.stack(clip_frames[i : i + 16]) for i in range(0, len(clip_frames) - 15, 16)]
    video = video_r2plus1d(num_classes=10)
    recalibrate_batchnorm(video, [torch.from_numpy(pp.video_clip(c, vspec)) for c in clips[:8]])
    bundles["video_r2plus1d"] = export_untrained(
        "video_r2plus1d",
        video,
        vspec,
        torch.zeros(vspec.clip_shape),
        clips[8:40],
        out,
        "video",
        "small R(2+1)D over 16 x 112x112 clips, untrained (BatchNorm statistics from 8 real "
        "clips); calibrated and parity-checked on 32 other real clips",
    )
    steps.update()
    rng = np.random.default_rng(0)
    head = fusion_head((64, 128))
    emb = [
        {
            "image_embedding": rng.standard_normal(64).astype(np.float32),
            "audio_embedding": rng.standard_normal(128).astype(np.float32),
        }
        for _ in range(64)
    ]
    data_emb = Labelled(emb, np.zeros(64, np.int64), [])
    bundles["fusion_head"] = export_bundle(
        head,
        out / "fusion_head.mmb",
        name="fusion_head",
        inputs=[
            ModelInput("image_embedding", torch.zeros(1, 64)),
            ModelInput("audio_embedding", torch.zeros(1, 128)),
        ],
        labels=[str(i) for i in range(10)],
        modality="fusion",
        precisions=PRECISIONS,
        calibration=data_emb,
        parity_data=data_emb,
        description="fusion head over a 64-d and a 128-d embedding, untrained; random "
        "embeddings (no labels): parity and speed only",
        overwrite=True,
        progress=False,
    )
    steps.update()
    steps.close()
    return bundles


def time_artifacts(bundle: Bundle, threads: int, rounds: int, calls: int) -> list[common.Timing]:
    """All ONNX artifacts of a bundle at batch 1 (the first stored parity sample), interleaved."""
    inputs, _ = load_fixture(bundle)
    feeds = {k: np.ascontiguousarray(v[:1]) for k, v in inputs.items()}
    backends = {
        a.file: OrtBackend(a.path, providers=["CPUExecutionProvider"], intra_op_threads=threads)
        for a in bundle.artifacts
    }
    try:
        return common.time_interleaved(
            {f: (lambda b=b: b.infer(feeds)) for f, b in backends.items()},
            rounds=rounds,
            calls=calls,
            warmup=5,
            threads=threads,
            desc=f"{bundle.name} x{threads}",
        )
    finally:
        for b in backends.values():
            b.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(
            os.environ.get("MMEDGE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
        ),
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    tag = common.machine_tag()
    report: dict[str, Any] = {"machine": common.machine(), "models": {}}
    md = [
        "# Export report",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cpus']} CPUs. ONNX Runtime "
        "CPU, batch 1; latency timed interleaved (all artifacts of a model in one run, "
        f"{args.rounds} rounds x {args.calls} calls, median). Accuracy: top-1 through "
        "mmedge.Model on held-out real data. Command: `python benchmarks/export_report.py`.",
        "",
        "In the per-model tables, `ORT CPU ms` is the figure the bundle recorded at export "
        "(ONNX Runtime's default thread count, 10 x 10 calls; artifact selection uses it); the "
        "interleaved table under each is this script's own, longer measurement at 1 and 2 "
        "intra-op threads. Taken minutes apart on a shared machine, the two can differ by tens "
        "of percent; ratios within one table are the figures to compare.",
        "",
    ]
    ratio_rows = [
        "| model | fp32 ms (1 thr) | int8 / fp32 speed-up, int8 activations | "
        "int8 / fp32 speed-up, uint8 activations (x86 CPU) | fp16 / fp32 | "
        "recommended on this CPU |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="mmedge-report-") as tmp:
        bundles = build_bundles(args.data, Path(tmp))
        for name, path in bundles.items():
            with Bundle.load(path) as bundle:
                manifest = bundle.manifest
                timings = [
                    t for n in (1, 2) for t in time_artifacts(bundle, n, args.rounds, args.calls)
                ]
            by = {(t.method, t.threads): t.median_ms for t in timings}
            speedups = {f"{f} x{n}": by[("model.onnx", n)] / by[(f, n)] for f, n in by}
            fastest = min((f for f, n in by if n == 1), key=lambda f: by[(f, 1)])
            report["models"][name] = {
                "description": manifest.get("description"),
                "artifacts": artifact_rows(manifest),
                "timings": common.timings_to_dicts(timings),
                "speedup_vs_fp32": speedups,
                "recommendation": manifest["reports"].get("recommendation"),
                "quantization": manifest["reports"].get("quantization"),
                "accuracy": manifest["reports"].get("accuracy"),
            }
            md += [
                f"## {name}",
                "",
                manifest.get("description") or "",
                "",
                markdown_table(manifest),
                "",
                "Interleaved latency (ms, median; speed-up vs fp32 in brackets):",
                "",
                "| artifact | 1 thread | 2 threads |",
                "|---|---|---|",
            ]
            for a in manifest["artifacts"]:
                f = a["file"]
                md.append(
                    f"| {f} | {by[(f, 1)]:.3f} ({speedups[f'{f} x1']:.2f}x) | "
                    f"{by[(f, 2)]:.3f} ({speedups[f'{f} x2']:.2f}x) |"
                )
            notes = (manifest["reports"].get("recommendation") or {}).get("notes", [])
            excluded = {
                f: q["excluded_nodes"]
                for f, q in (manifest["reports"].get("quantization") or {}).items()
                if q.get("excluded_nodes")
            }
            md += [""] + [f"- {n}" for n in notes]
            md += [
                f"- {f}: layers kept in float by the accuracy gate: {', '.join(v)}"
                for f, v in excluded.items()
            ]
            verdict = f"{fastest}" + (
                " (int8 not faster: fp32 for CPU)" if fastest == "model.onnx" else ""
            )
            ratio_rows.append(
                f"| {name} | {by[('model.onnx', 1)]:.3f} | "
                f"{speedups['model.int8.onnx x1']:.2f}x | "
                f"{speedups.get('model.int8-u8.onnx x1', float('nan')):.2f}x | "
                f"{speedups['model.fp16.onnx x1']:.2f}x | {verdict} |"
            )
            md.append("")
    md[4:4] = ["## int8 and fp16 against fp32 (ONNX Runtime CPU, 1 thread)", "", *ratio_rows, ""]
    folder = common.write_results("export_report", tag, report, "\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {folder}/export_report.json and .md")
    print(json.dumps({k: v["speedup_vs_fp32"] for k, v in report["models"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
