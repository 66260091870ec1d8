#!/usr/bin/env python3
"""1920x1080 BGR uint8 frame -> 1x3x224x224 float32 RGB, ImageNet mean/std, NCHW.

Ours (one fused pass of mmedge.preprocess.image) against, in the same run:
  cv2.dnn.blobFromImageWithParams          OpenCV's one-call blob
  cv2.resize + per-plane NumPy (prealloc)  the fastest OpenCV chain we know: resize, then one
                                           multiply-add per plane straight into the output buffer
  naive NumPy chain                        resize, cvtColor, astype, /255, -mean, /std, transpose
at 1 and 2 threads (cv2.setNumThreads / mmedge.set_num_threads). Every method is checked to
produce the same tensor (within one grey level, OpenCV's fixed-point rounding) before timing.

    python benchmarks/preprocess_image.py                 # CPU -> benchmarks/results/<machine>/
    python benchmarks/preprocess_image.py --device cuda   # our CUDA kernel vs PyTorch on the GPU
Target (issue 2): ours >= 1.5x the fastest OpenCV variant.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import mmedge
from mmedge import preprocess

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SRC_W, SRC_H, DST = 1920, 1080, 224
TARGET = 1.5


def test_frame(data: Path) -> tuple[np.ndarray, str]:
    """A real frame (vtest.avi, upscaled to 1080p) when the data is there, else noise."""
    import cv2

    clip = data / "video_clips" / "vtest.avi"
    if clip.is_file():
        cap = cv2.VideoCapture(str(clip))
        ok, frame = cap.read()
        cap.release()
        if ok:
            return cv2.resize(
                frame, (SRC_W, SRC_H), interpolation=cv2.INTER_CUBIC
            ), f"{clip.name} frame 0"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (SRC_H, SRC_W, 3), dtype=np.uint8), "uniform noise"


def cpu_methods(frame: np.ndarray) -> dict[str, object]:
    import cv2

    spec = mmedge.ImageSpec(
        DST, DST, input_format="BGR", output_format="RGB", mean=tuple(MEAN), std=tuple(STD)
    )
    ours_out = np.empty((1, 3, DST, DST), np.float32)
    chain_out = np.empty((1, 3, DST, DST), np.float32)
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple((1.0 / (255.0 * STD)).tolist())
    params.size = (DST, DST)
    params.mean = tuple((MEAN * 255.0).tolist())
    params.swapRB = True
    params.ddepth = cv2.CV_32F
    scale = (1.0 / (255.0 * STD)).astype(np.float32)
    bias = (-MEAN / STD).astype(np.float32)

    def ours() -> np.ndarray:
        return preprocess.image(frame, spec, out=ours_out)

    def blob() -> np.ndarray:
        return cv2.dnn.blobFromImageWithParams(frame, params)

    def resize_planes() -> np.ndarray:
        small = cv2.resize(frame, (DST, DST), interpolation=cv2.INTER_LINEAR)
        for c in range(3):
            plane = chain_out[0, c]
            np.multiply(small[:, :, 2 - c], scale[c], out=plane)
            plane += bias[c]
        return chain_out

    def naive() -> np.ndarray:
        small = cv2.resize(frame, (DST, DST), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return np.ascontiguousarray(((rgb - MEAN) / STD).transpose(2, 0, 1))[None]

    return {
        "mmedge fused": ours,
        "cv2 blobFromImageWithParams": blob,
        "cv2.resize + per-plane NumPy": resize_planes,
        "naive NumPy chain": naive,
    }


def check_same_work(methods: dict[str, object]) -> float:
    """All methods must compute the same tensor: within one grey level in normalised units."""
    results = {name: np.array(fn()) for name, fn in methods.items()}
    ours = results["mmedge fused"]
    bound = float((1.0 / (255.0 * STD)).max()) + 1e-5
    worst = 0.0
    for name, r in results.items():
        diff = float(np.abs(r.reshape(ours.shape) - ours).max())
        if diff > bound:
            raise SystemExit(
                f"{name} differs from mmedge by {diff:.4f} (> one grey level {bound:.4f})"
            )
        worst = max(worst, diff)
    return worst


def _cpu_table(
    payload: dict, methods: dict, timings: list[common.Timing], ratios: list[dict], args
) -> list[str]:
    """The markdown report of run_cpu."""
    import cv2

    source, worst = payload["input"], payload["max_abs_diff_vs_ours"]
    lines = [
        f"# Image preprocessing: {payload['task']}",
        "",
        f"Machine: {payload['machine']['cpu']}, {payload['machine']['cpus']} CPUs. "
        f"Input: {source}. OpenCV {cv2.__version__}, mmedge {mmedge.__version__} "
        f"({payload['versions']['cpu_driver']} driver). Medians of "
        f"{args.rounds} x {args.calls} interleaved calls.",
        "",
        "| threads | " + " | ".join(methods) + " |",
        "|---:|" + "---:|" * len(methods),
    ]
    for threads in args.threads:
        row = {t.method: t.median_ms for t in timings if t.threads == threads}
        lines.append(f"| {threads} | " + " | ".join(f"{row[m]:.3f} ms" for m in methods) + " |")
    lines += [
        "",
        "| threads | fastest OpenCV variant | mmedge speed-up | vs naive chain |",
        "|---:|---|---:|---:|",
    ]
    for r in ratios:
        lines.append(
            f"| {r['threads']} | {r['fastest_peer']} | **{r['ratio']:.2f}x** | "
            f"{r['ratio_vs_naive']:.2f}x |"
        )
    lines += [
        "",
        f"Target >= {TARGET}x: {'met' if payload['target']['met'] else 'NOT met'}. "
        f"Largest difference between methods' outputs: {worst:.4f} (normalised units).",
        "",
    ]
    return lines


def run_cpu(args: argparse.Namespace) -> None:
    import cv2

    frame, source = test_frame(Path(args.data))
    methods = cpu_methods(frame)
    worst = check_same_work(methods)
    timings: list[common.Timing] = []
    for threads in args.threads:
        cv2.setNumThreads(threads)
        mmedge.set_num_threads(threads)
        timings += common.time_interleaved(
            methods,
            rounds=args.rounds,
            calls=args.calls,
            warmup=args.warmup,
            threads=threads,
            desc=f"{threads} thread(s)",
        )
    mmedge.set_num_threads(0)
    peers = ["cv2 blobFromImageWithParams", "cv2.resize + per-plane NumPy"]
    ratios = []
    for threads in args.threads:
        row = {t.method: t.median_ms for t in timings if t.threads == threads}
        fastest = min(peers, key=lambda m: row[m])
        ratios.append(
            {
                "threads": threads,
                "fastest_peer": fastest,
                "ratio": row[fastest] / row["mmedge fused"],
                "ratio_vs_naive": row["naive NumPy chain"] / row["mmedge fused"],
            }
        )
    payload = {
        "benchmark": "preprocess_image",
        "task": f"{SRC_W}x{SRC_H} BGR u8 -> 1x3x{DST}x{DST} f32 RGB, mean/std, NCHW",
        "input": source,
        "machine": common.machine(),
        "versions": {
            "mmedge": mmedge.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
            "cpu_driver": mmedge._C.cpu_simd(),
        },
        "method": {
            "rounds": args.rounds,
            "calls_per_round": args.calls,
            "warmup": args.warmup,
            "statistic": "median of per-call perf_counter times, methods interleaved",
        },
        "max_abs_diff_vs_ours": worst,
        "results": common.timings_to_dicts(timings),
        "ratios": ratios,
        "target": {"ratio": TARGET, "met": all(r["ratio"] >= TARGET for r in ratios)},
    }
    lines = _cpu_table(payload, methods, timings, ratios, args)
    folder = common.write_results(
        "preprocess_image",
        common.machine_tag(),
        payload,
        "\n".join(lines),
        lambda p: common.bar_plot(p, timings, payload["task"], "mmedge fused"),
    )
    print("\n".join(lines))
    print(f"results in {folder}")


def run_cuda(args: argparse.Namespace) -> None:
    """Our CUDA kernel (device frame in, device tensor out) vs PyTorch's GPU ops on the same
    device frame; per-call wall time including a stream synchronise, as a pipeline sees it."""
    import torch
    import torch.nn.functional as F

    from mmedge.preprocess.cuda import DeviceArray

    frame, source = test_frame(Path(args.data))
    spec = mmedge.ImageSpec(DST, DST, mean=tuple(MEAN), std=tuple(STD))
    dev_frame = torch.from_numpy(frame).cuda()
    out = DeviceArray((1, 3, DST, DST), np.float32)
    mean = torch.tensor(MEAN, device="cuda").view(1, 3, 1, 1)
    std = torch.tensor(STD, device="cuda").view(1, 3, 1, 1)

    def ours() -> None:
        preprocess.image(dev_frame, spec, out=out)
        torch.cuda.synchronize()

    def torch_ops() -> None:
        x = dev_frame.flip(-1).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=(DST, DST), mode="bilinear", align_corners=False, antialias=False)
        ((x / 255.0 - mean) / std).contiguous()
        torch.cuda.synchronize()

    methods = {"mmedge CUDA fused": ours, "PyTorch GPU ops": torch_ops}
    timings = common.time_interleaved(
        methods, rounds=args.rounds, calls=args.calls, warmup=args.warmup, threads=1, desc="cuda"
    )
    gpu = torch.cuda.get_device_name()
    ratio = timings[1].median_ms / timings[0].median_ms
    payload = {
        "benchmark": "preprocess_image_cuda",
        "gpu": gpu,
        "input": source,
        "machine": common.machine(),
        "results": common.timings_to_dicts(timings),
        "ratio_vs_torch": ratio,
    }
    md = (
        f"# Image preprocessing on {gpu}\n\n"
        "| method | median ms | p10 | p90 |\n|---|---:|---:|---:|\n"
        + "".join(
            f"| {t.method} | {t.median_ms:.4f} | {t.p10_ms:.4f} | {t.p90_ms:.4f} |\n"
            for t in timings
        )
        + f"\nmmedge vs PyTorch: {ratio:.2f}x\n"
    )
    folder = common.write_results(
        "preprocess_image_cuda", common.machine_tag("cuda", gpu), payload, md
    )
    print(md)
    print(f"results in {folder}")


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--data", default=os.environ.get("MMEDGE_DATA", repo.parent / "shared" / "data")
    )
    args = parser.parse_args()
    run_cuda(args) if args.device == "cuda" else run_cpu(args)


if __name__ == "__main__":
    main()
