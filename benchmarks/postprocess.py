#!/usr/bin/env python3
"""Detection post-processing against its peers, interleaved in one run, at 1 and 2 threads
(`--task masks`: segmentation mask back-mapping, benchmarks/mask_postprocess.py).

Case: a YOLOv8-style head of 8,400 candidates x 80 classes (channels-first, as Ultralytics
exports it; background scores plus 30 objects with clusters of overlapping candidates, the
heads tests/tasks checks against the reference), score > 0.25, IoU 0.45, at most 300 boxes:
  mmedge         DetectionHead.decode: decode + per-class NMS + top-k + map, one kernel call
  cv2            NumPy decode (max/argmax over classes, threshold, xywh) +
                 cv2.dnn.NMSBoxesBatched + top-k, as OpenCV's YOLO samples do it
  torchvision    torch decode (the same steps, as Ultralytics' non_max_suppression) +
                 torchvision.ops.batched_nms + top-k, on the CPU (when torchvision imports)
Every method is checked to keep the same boxes before anything is timed. Target: mmedge >= 2x
the fastest peer at 1 thread.

torchvision needs a torch it was built against: torchvision's PyPI wheels pair with PyPI's
(CUDA) torch, not with the CPU build mmedge's test environment uses; `scripts/torch_peer_env.sh`
makes a separate venv with both from the package mirror and runs this script in it.

    python benchmarks/postprocess.py   # -> benchmarks/results/<machine>/postprocess.{json,md,png}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

import mmedge
from mmedge.tasks import DetectionHead

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the heads the tests check
import common  # noqa: E402
from detection_data import realistic_head  # noqa: E402

LABELS = tuple(f"class{i}" for i in range(80))
MAPS = np.array([[1, 0, 1, 0, 640, 640]], np.float32)
TARGET = 2.0


def methods(head: np.ndarray) -> dict[str, Any]:
    import cv2

    spec = DetectionHead(score_threshold=0.25, iou_threshold=0.45, max_detections=300)

    def ours() -> np.ndarray:
        return spec.decode(head[None], MAPS, LABELS, [(640, 640)])[0].scores

    def opencv() -> np.ndarray:
        x = head.T
        cls = x[:, 4:]
        ids = cls.argmax(1)
        best = cls[np.arange(len(x)), ids]
        keep = best > 0.25
        x, best, ids = x[keep], best[keep], ids[keep]
        xywh = np.stack([x[:, 0] - x[:, 2] / 2, x[:, 1] - x[:, 3] / 2, x[:, 2], x[:, 3]], 1)
        kept = cv2.dnn.NMSBoxesBatched(xywh, best, ids, 0.25, 0.45)
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)
        order = np.argsort(-best[kept], kind="stable")[:300]
        return best[kept][order]

    found = {"mmedge": ours, "cv2 NMSBoxesBatched + NumPy decode": opencv}
    try:
        import torch
        from torchvision.ops import batched_nms
    except (ImportError, RuntimeError) as exc:  # a torchvision built for another torch
        print(f"torchvision not timed: {exc}", file=sys.stderr)
        return found
    tensor = torch.from_numpy(np.ascontiguousarray(head))

    def torchvision() -> np.ndarray:
        with torch.inference_mode():
            x = tensor.T
            best, ids = x[:, 4:].max(1)
            keep = best > 0.25
            x, best, ids = x[keep], best[keep], ids[keep]
            xyxy = torch.cat([x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2], 1)
            kept = batched_nms(xyxy, best, ids, 0.45)[:300]  # sorted by score
            return best[kept].numpy()

    found["torchvision batched_nms + torch decode"] = torchvision
    return found


def end_to_end(frames: list[np.ndarray], threads: int, calls: int = 200) -> list[dict[str, Any]]:
    """The built-in digit_detector on real 640x480 frames: preprocess + infer (ONNX Runtime
    CPU) + decode/NMS/map, p50/p99 at batch 1 and frames/s at batch 8, per artifact."""
    import time

    rows = []
    for precision, artifact in (("fp32", "model.onnx"), ("int8", "model.int8-u8.onnx")):
        with mmedge.Model(
            mmedge.builtin_bundle("digit_detector"), artifact=artifact, intra_op_threads=threads
        ) as model:
            for f in frames[:10]:
                model.predict(f)
            one = []
            for i in range(calls):
                t0 = time.perf_counter()
                model.predict(frames[i % len(frames)])
                one.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            batches = max(1, calls // 8)
            for i in range(batches):
                model.predict_batch([frames[(8 * i + k) % len(frames)] for k in range(8)])
            fps = 8 * batches / (time.perf_counter() - t0)
        rows.append(
            {
                "precision": precision,
                "artifact": artifact,
                "threads": threads,
                "p50_ms": float(np.percentile(one, 50)),
                "p99_ms": float(np.percentile(one, 99)),
                "batch8_fps": fps,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--task", choices=("detection", "masks"), default="detection",
        help="masks: segmentation mask back-mapping (benchmarks/mask_postprocess.py)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.task == "masks":
        import mask_postprocess

        payload = mask_postprocess.run(args.threads, args.rounds, args.calls)
        md = mask_postprocess.markdown(payload)
        folder = common.write_results("postprocess_masks", common.machine_tag(), payload, md,
            lambda p: common.bar_plot(p, [common.Timing(**t) for c in payload["cases"][:1]
                                          for r in c["runs"] for t in r["timings"]],
                                      "Mask back-mapping, trained segmenter, 640x480 (ms)",
                                      "mmedge"))  # fmt: skip
        print(md)
        print(f"results in {folder}")
        return
    import cv2

    head = realistic_head(np.random.default_rng(0))
    fns = methods(head)
    kept = {name: fn() for name, fn in fns.items()}
    ours = kept.pop("mmedge")
    for scores in kept.values():  # the same work: the same kept boxes, by score
        np.testing.assert_allclose(np.sort(scores), np.sort(ours), rtol=0, atol=1e-6)
    runs = []
    for threads in args.threads:
        cv2.setNumThreads(threads)
        mmedge.set_num_threads(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        timings = common.time_interleaved(
            fns,
            rounds=args.rounds,
            calls=args.calls,
            warmup=5,
            threads=threads,
            desc=f"postprocess x{threads}",
            warm_each_block=True,
        )
        rows = {t.method: t.median_ms for t in timings}
        peer = min((v, k) for k, v in rows.items() if k != "mmedge")
        runs.append(
            {
                "threads": threads,
                "timings": common.timings_to_dicts(timings),
                "fastest_peer": peer[1],
                "ratio": peer[0] / rows["mmedge"],
            }
        )
    from mmedge.export.recipes.digit_boxes import clip_frames

    frames = clip_frames("cup.mp4", every=1)
    latency = []
    for threads in args.threads:
        mmedge.set_num_threads(threads)
        latency += end_to_end(frames, threads)
    mmedge.set_num_threads(0)
    payload = {
        "benchmark": "postprocess",
        "machine": common.machine(),
        "case": "8400 candidates x 80 classes, score > 0.25, IoU 0.45, max 300",
        "kept_boxes": len(ours),
        "peers": _peer_versions(),
        "target": f">= {TARGET}x the fastest peer at 1 thread",
        "runs": runs,
        "end_to_end": latency,
    }
    md = markdown(payload)
    folder = common.write_results(
        "postprocess",
        common.machine_tag(),
        payload,
        md,
        lambda p: common.bar_plot(
            p,
            [common.Timing(**t) for r in runs for t in r["timings"]],
            "Detection decode + NMS, 8400 x 80 (ms, lower is better)",
            "mmedge",
        ),
    )
    print(md)
    print(f"results in {folder}")


def _peer_versions() -> dict[str, str]:
    import cv2

    versions = {"opencv": cv2.__version__}
    if "torchvision" in sys.modules:
        versions["torch"] = sys.modules["torch"].__version__
        versions["torchvision"] = sys.modules["torchvision"].__version__
    return versions


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    peers = payload.get("peers", {})
    command = (
        "bash scripts/torch_peer_env.sh benchmarks/postprocess.py"
        if "torchvision" in peers
        else "python benchmarks/postprocess.py"
    )
    lines = [
        "# Detection post-processing vs peers",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs. Case: {payload['case']} "
        f"({payload['kept_boxes']} boxes kept, the same by every method). Medians of interleaved "
        "calls. Peers: "
        + ", ".join(f"{k} {v}" for k, v in peers.items())
        + f" (CPU). Command: `MMEDGE_DATA=../shared/data {command}`.",
        "",
    ]
    methods = [t["method"] for t in payload["runs"][0]["timings"]]
    lines += ["| threads | " + " | ".join(methods) + " | ratio | target met |"]
    lines += ["|---:|" + "---:|" * len(methods) + "---:|---|"]
    for run in payload["runs"]:
        ms = {t["method"]: t["median_ms"] for t in run["timings"]}
        met = "yes" if run["ratio"] >= TARGET else "**no**"
        if run["threads"] != 1:
            met = "(target at 1 thread)"
        lines.append(
            f"| {run['threads']} | "
            + " | ".join(f"{ms[k]:.4f} ms" for k in methods)
            + f" | {run['ratio']:.2f}x | {met} |"
        )
    lines += [
        "",
        "End to end, the built-in digit_detector on 640x480 frames of cup.mp4 (preprocess + "
        "ONNX Runtime CPU + decode/NMS/map, through mmedge.Model):",
        "",
        "| artifact | threads | p50 batch 1 | p99 batch 1 | frames/s at batch 8 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in payload["end_to_end"]:
        lines.append(
            f"| {r['artifact']} ({r['precision']}) | {r['threads']} | {r['p50_ms']:.2f} ms | "
            f"{r['p99_ms']:.2f} ms | {r['batch8_fps']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
