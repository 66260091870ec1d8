"""Mask back-mapping against its peers (`python benchmarks/postprocess.py --task masks`),
interleaved in one run, at 1 and 2 threads.

Cases (logits -> a class mask at the frame's resolution):
  digits   the built-in digit_segmenter's own logits (11 x 96 x 128, stride 2) on 640x480
           frames of cup.mp4 with MNIST test digits (the held-out set of the segmenter's
           build): a real network's class boundaries
  stress   21 x 128 x 128 synthetic logits with small random regions (a third of the logit
           pixels sit on a class boundary) -> 1920x1080: the worst case for mmedge's shortcut
Methods:
  mmedge                  SegmentationHead.decode: one mmedge._C.segment call (bilinear argmax
                          at source resolution, boundary pixels only sample every class)
  cv2 linear + argmax     cv2.resize(logits HWC, INTER_LINEAR) then NumPy argmax: the same
                          definition (the mask agreement is reported)
  argmax + cv2 nearest    NumPy argmax at logit resolution, then cv2.resize(INTER_NEAREST):
                          blockier, a different answer (its agreement with the definition is
                          reported too)
Target: mmedge >= 2x the fastest peer at 1 thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mmedge
from mmedge.tasks.geometry import mask_map
from mmedge.tasks.segmentation import SegmentationHead

TARGET = 2.0


def digits_case(n_frames: int = 8) -> dict[str, Any]:
    from mmedge.export.recipes.digit_boxes import make_mask_split

    data = make_mask_split("eval", n_frames, seed=0)
    with mmedge.Model(mmedge.builtin_bundle("digit_segmenter"), precision="fp32") as model:
        logits = model.infer(model.preprocess_batch(data.samples))["logits"]
        spec = model.spec
    h, w = data.samples[0].shape[:2]
    maps = mask_map(spec, w, h, logits.shape[3], logits.shape[2])
    return {"name": "digits: 11x96x128 -> 640x480 (trained segmenter, 8 frames)",
            "logits": logits, "map": maps, "size": (w, h)}  # fmt: skip


def stress_case() -> dict[str, Any]:
    import cv2

    rng = np.random.default_rng(0)
    coarse = rng.normal(0, 3, (16, 16, 21)).astype(np.float32)
    fine = cv2.resize(coarse, (128, 128), interpolation=cv2.INTER_CUBIC)
    fine += rng.normal(0, 0.05, fine.shape).astype(np.float32)
    logits = np.ascontiguousarray(fine.transpose(2, 0, 1))[None]
    spec = mmedge.ImageSpec(128, 128)
    return {"name": "stress: 21x128x128 -> 1920x1080 (synthetic, dense boundaries)",
            "logits": logits, "map": mask_map(spec, 1920, 1080, 128, 128),
            "size": (1920, 1080)}  # fmt: skip


def methods(case: dict[str, Any]) -> dict[str, Any]:
    import cv2

    logits, w, h = case["logits"], *case["size"]
    maps = np.repeat(case["map"][None], len(logits), 0)
    labels = [str(i) for i in range(logits.shape[1])]
    head = SegmentationHead()
    hwc = [np.ascontiguousarray(x.transpose(1, 2, 0)) for x in logits]

    def ours() -> list[np.ndarray]:
        return [m.mask for m in head.decode(logits, maps, labels, [(w, h)] * len(logits))]

    def linear() -> list[np.ndarray]:
        return [
            cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR).argmax(2).astype(np.uint8)
            for x in hwc
        ]

    def nearest() -> list[np.ndarray]:
        return [
            cv2.resize(x.argmax(0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            for x in logits
        ]

    return {"mmedge": ours, "cv2 linear + argmax": linear, "argmax + cv2 nearest": nearest}


def agreement(fns: dict[str, Any]) -> dict[str, float]:
    """Share of pixels each method classes as mmedge does."""
    ours = np.stack(fns["mmedge"]())
    return {k: float((np.stack(f()) == ours).mean()) for k, f in fns.items() if k != "mmedge"}


def run(threads_list: list[int], rounds: int, calls: int) -> dict[str, Any]:
    import common
    import cv2

    cases = []
    for case in (digits_case(), stress_case()):
        fns = methods(case)
        runs = []
        for threads in threads_list:
            cv2.setNumThreads(threads)
            mmedge.set_num_threads(threads)
            timings = common.time_interleaved(
                fns, rounds=rounds, calls=calls, warmup=3, threads=threads,
                desc=f"masks x{threads}", warm_each_block=True,
            )  # fmt: skip
            rows = {t.method: t.median_ms for t in timings}
            peer = min((v, k) for k, v in rows.items() if k != "mmedge")
            runs.append({"threads": threads, "timings": common.timings_to_dicts(timings),
                         "fastest_peer": peer[1], "ratio": peer[0] / rows["mmedge"]})  # fmt: skip
        cases.append({"case": case["name"], "agreement": agreement(fns), "runs": runs})
    mmedge.set_num_threads(0)
    return {"benchmark": "postprocess_masks", "machine": common.machine(),
            "peers": {"opencv": cv2.__version__, "numpy": np.__version__},
            "target": f">= {TARGET}x the fastest peer at 1 thread", "cases": cases}  # fmt: skip


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Mask back-mapping vs peers",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs. Medians of interleaved calls; OpenCV "
        f"{payload['peers']['opencv']}, NumPy {payload['peers']['numpy']}. Command: "
        "`MMEDGE_DATA=../shared/data python benchmarks/postprocess.py --task masks`.",
        "",
    ]
    for case in payload["cases"]:
        methods = [t["method"] for t in case["runs"][0]["timings"]]
        agree = ", ".join(f"{k} {v:.2%}" for k, v in case["agreement"].items())
        lines += [f"## {case['case']}", "", f"Pixels classed as mmedge does: {agree}.", ""]
        lines += ["| threads | " + " | ".join(methods) + " | ratio | target met |"]
        lines += ["|---:|" + "---:|" * len(methods) + "---:|---|"]
        for run in case["runs"]:
            ms = {t["method"]: t["median_ms"] for t in run["timings"]}
            met = "yes" if run["ratio"] >= TARGET else "**no**"
            if run["threads"] != 1:
                met = "(target at 1 thread)"
            lines.append(
                f"| {run['threads']} | " + " | ".join(f"{ms[k]:.3f} ms" for k in methods)
                + f" | {run['ratio']:.2f}x vs {run['fastest_peer']} | {met} |"
            )  # fmt: skip
        lines.append("")
    return "\n".join(lines)
