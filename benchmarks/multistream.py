#!/usr/bin/env python3
"""Many cameras, one model: cross-stream batching against one session per stream and a
sequential loop, in one run.

Input: the first FRAMES frames of ../shared/data/video_clips/box.mp4 (640x480 at 30 fps),
decoded once into memory; stream k starts k frames later in the clip, so the streams differ.
Models (fp32 ONNX, ONNX Runtime CPU): a ResNet-18-shaped CNN at width 32 on 224x224 RGB
(untrained: only the work matters) and the small built-in scene_image (48x48).
Methods, at 1, 2, 4 and 8 streams:
  batched      Pipeline.add("cams", streams, bundle, batch=True, max_delay_ms=MAX_DELAY_MS):
               one model, batches over its dynamic batch axis (up to 4 ORT threads)
  batched, padded  the same with pad=True: every batch as many rows as streams (what an engine
               built for one shape needs; on ONNX Runtime CPU the padding rows are wasted work)
  per-stream   Pipeline.add("cams", streams, bundle): one model (session) and worker per
               stream (1 ORT thread each on this 2-core machine, as the pipeline sets)
  sequential   one Model (ORT's default threads) over the streams' frames in turn
Throughput: every frame of every stream as fast as it goes (file-like sources), frames/s.
Latency: the streams paced at 30 fps each (live sources, drop-oldest), per frame from its
arrival to its result (the pipeline's 'latency'; for the loop, from the frame's due time), p50
and p99 ms, and the frames dropped. Target: at 8 streams, batched >= 1.5x the frames/s of
per-stream, and batched p99 <= 2 x max_delay_ms + one batch's inference time (its p50).

    MMEDGE_DATA=../shared/data python benchmarks/multistream.py
    # -> benchmarks/results/<machine>/multistream.{json,md,png}
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import mmedge
from mmedge.export.presets import PRESETS
from mmedge.sources import ImageSequence

FPS = 30.0
MAX_DELAY_MS = 10.0
STREAMS = (1, 2, 4, 8)
METHODS = ("batched", "batched, padded", "per-stream", "sequential")


def clip_frames(n: int) -> list[np.ndarray]:
    from mmedge.export.recipes.digit_boxes import clip_frames as frames_of

    return frames_of("box.mp4", every=1)[: n + max(STREAMS)]


def resnet_bundle(out: Path) -> Path:
    import torch

    from mmedge.export import export_bundle
    from mmedge.export.zoo import resnet18_like

    torch.manual_seed(0)
    return export_bundle(
        resnet18_like(10, width=32).eval(), out / "resnet.mmb", name="resnet18_w32",
        example_input=torch.zeros(1, 3, 224, 224), preprocess=PRESETS["imagenet-224"],
        labels=[str(i) for i in range(10)], progress=False,
    )  # fmt: skip


def _streams(frames: list[np.ndarray], n: int, count: int, realtime: bool) -> list[ImageSequence]:
    return [
        ImageSequence(frames[k : k + count], 1 / FPS, name=f"cam{k}", realtime=realtime)
        for k in range(n)
    ]


def run_pipeline(
    bundle: Path,
    frames: list[np.ndarray],
    n: int,
    count: int,
    batch: bool,
    realtime: bool,
    pad: bool = False,
) -> dict[str, Any]:
    pipe = mmedge.Pipeline().add(
        "cams", _streams(frames, n, count, realtime), bundle, batch=batch,
        max_delay_ms=MAX_DELAY_MS, pad=pad,
    )  # fmt: skip
    t0 = time.perf_counter()
    pipe.run(timeout_s=600)
    wall = time.perf_counter() - t0
    stats = pipe.stats()["modalities"]
    streams = [f"cams/{k}" for k in range(n)]
    lat = [stats[s]["latency"] for s in streams]
    done = sum(x["count"] for x in lat)
    out = {
        "frames": done,
        "fps": done / wall,
        # the pooled p50 / p99 of the streams: the worst stream's (each has the same load)
        "p50_ms": max(x["p50_ms"] for x in lat),
        "p99_ms": max(x["p99_ms"] for x in lat),
        "dropped": sum(int(stats[s].get("dropped", 0)) for s in streams),
    }
    if batch:
        out["batches"] = {k[6:]: v for k, v in stats["cams"].items() if k.startswith("batch_")}
        out["batch_infer_p50_ms"] = stats["cams"]["infer"]["p50_ms"]
    return out


def run_sequential(
    bundle: Path, frames: list[np.ndarray], n: int, count: int, realtime: bool
) -> dict[str, Any]:
    """The loop a script would write: frame k of every stream, then frame k + 1, ...; paced,
    it waits for each frame's due time and falls behind when it cannot keep up (no drops)."""
    latencies = []
    with mmedge.Model(bundle) as model:
        model.predict(frames[0])
        t0 = time.perf_counter()
        for k in range(count):
            due = t0 + k / FPS
            if realtime:
                time.sleep(max(0.0, due - time.perf_counter()))
            for s in range(n):
                model.predict(frames[s + k])
                latencies.append((time.perf_counter() - max(due, t0)) * 1e3)
        wall = time.perf_counter() - t0
    return {
        "frames": n * count,
        "fps": n * count / wall,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "dropped": 0,
    }


def measure(bundle: Path, frames: list[np.ndarray], n: int, count: int, method: str) -> dict:
    row: dict[str, Any] = {"streams": n, "method": method}
    for mode, realtime in (("throughput", False), ("paced", True)):
        if method == "sequential":
            r = run_sequential(bundle, frames, n, count, realtime)
        else:
            batched = method.startswith("batched")
            r = run_pipeline(bundle, frames, n, count, batched, realtime, "padded" in method)
        row[mode] = r
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90, help="frames per stream (30 fps)")
    args = parser.parse_args()
    frames = clip_frames(args.frames)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmedge-multistream-") as tmp:
        models = {
            "resnet18_w32 224x224": resnet_bundle(Path(tmp)),
            "scene_image 48x48": mmedge.builtin_bundle("scene_image"),
        }
        jobs = [(m, n, method) for m in models for n in STREAMS for method in METHODS]
        for model, n, method in tqdm(jobs, desc="multistream", unit="run"):
            row = measure(models[model], frames, n, args.frames, method)
            rows.append({"model": model, **row})
    payload = {
        "benchmark": "multistream",
        "machine": common.machine(),
        "clip": "box.mp4, 640x480, 30 fps",
        "frames_per_stream": args.frames,
        "max_delay_ms": MAX_DELAY_MS,
        "rows": rows,
        "targets": targets(rows),
    }
    md = markdown(payload)
    folder = common.write_results(
        "multistream", common.machine_tag(), payload, md, lambda p: plot(payload, p)
    )
    print(md)
    print(f"results in {folder}")
    return 0


def _row(rows: list[dict], model: str, n: int, method: str) -> dict:
    return next(
        r for r in rows if r["model"] == model and r["streams"] == n and r["method"] == method
    )


def targets(rows: list[dict]) -> dict[str, Any]:
    """At 8 streams, per model: the throughput ratio and the latency bound."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        batched, per = _row(rows, model, 8, "batched"), _row(rows, model, 8, "per-stream")
        ratio = batched["throughput"]["fps"] / per["throughput"]["fps"]
        bound = 2 * MAX_DELAY_MS + batched["paced"]["batch_infer_p50_ms"]
        p99 = batched["paced"]["p99_ms"]
        capacity = batched["throughput"]["fps"]
        out[model] = {
            "demand_fps": 8 * FPS,
            "batched_capacity_fps": capacity,
            "overloaded": capacity < 8 * FPS,
            "throughput_ratio": ratio,
            "throughput_met": ratio >= 1.5,
            "p99_ms": p99,
            "p99_bound_ms": bound,
            "p99_met": p99 <= bound,
        }
    return out


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Many streams, one model",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs. {payload['frames_per_stream']} frames per "
        f"stream of {payload['clip']}; batched with max_delay_ms {payload['max_delay_ms']:.0f}. "
        "Throughput: sources as fast as they go; latency: each stream paced at 30 fps (arrival "
        "to result; p50 / p99 of the worst stream). Command: "
        "`MMEDGE_DATA=../shared/data python benchmarks/multistream.py`.",
        "",
        "| model | streams | method | frames/s | p50 ms (paced) | p99 ms (paced) | dropped (paced) "
        "| batch sizes (paced) |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in payload["rows"]:
        t, p = r["throughput"], r["paced"]
        sizes = ", ".join(
            f"{k}x{v}" for k, v in sorted(p.get("batches", {}).items(), key=lambda kv: int(kv[0]))
        )
        lines.append(
            f"| {r['model']} | {r['streams']} | {r['method']} | {t['fps']:.0f} | "
            f"{p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {p['dropped']} | {sizes or '-'} |"
        )
    lines += ["", "Targets at 8 streams:", ""]
    for model, t in payload["targets"].items():
        lines.append(
            f"- {model}: batched {t['throughput_ratio']:.2f}x the frames/s of one session per "
            f"stream ({'met' if t['throughput_met'] else '**not met**'}: >= 1.5x); p99 "
            f"{t['p99_ms']:.1f} ms against 2 x max_delay + one batch's inference = "
            f"{t['p99_bound_ms']:.1f} ms ({'met' if t['p99_met'] else '**not met**'})"
            + (
                f"; 8 x 30 fps = {t['demand_fps']:.0f} frames/s is more than this machine runs "
                f"this model at ({t['batched_capacity_fps']:.0f} batched): queues fill, frames "
                "drop, and the latency bound cannot hold"
                if t["overloaded"]
                else ""
            )
        )
    return "\n".join(lines) + "\n"


def plot(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in payload["rows"]))
    fig, axes = plt.subplots(2, len(models), figsize=(5.5 * len(models), 7), dpi=110)
    colours = {
        "batched": "#76b900",
        "batched, padded": "#b5d96b",
        "per-stream": "#4c72b0",
        "sequential": "#8c8c8c",
    }
    for col, model in enumerate(models):
        for method in METHODS:
            rs = [r for r in payload["rows"] if r["model"] == model and r["method"] == method]
            xs = [r["streams"] for r in rs]
            axes[0][col].plot(
                xs, [r["throughput"]["fps"] for r in rs], "o-", color=colours[method], label=method
            )
            axes[1][col].plot(
                xs, [r["paced"]["p99_ms"] for r in rs], "o-", color=colours[method], label=method
            )
        axes[0][col].set_title(f"{model}: frames/s (higher is better)", fontsize=9)
        axes[1][col].set_title(f"{model}: p99 latency at 30 fps per stream (ms)", fontsize=9)
        axes[1][col].set_yscale("log")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(STREAMS), [str(s) for s in STREAMS])
            ax.set_xlabel("streams")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
