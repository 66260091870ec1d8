#!/usr/bin/env python3
"""Audio events on a live signal: EventStream's latency and cost at several hops, against
Model.predict on the whole recording (offline: the least compute, and the events the stream
must give), in the same run.

For each hop: every clip is pushed in 100 ms chunks (a microphone's blocks); per event, the
delay = the stream's position when the event came out minus the event's true end (s); the CPU
time per second of signal (ms, wall time on this machine, one thread); and whether the events
equal predict()'s. Clips: spoken digits of a speaker training never heard in real background
sound (export.recipes.sound_events, eval split). Writes event_stream.{json,md,png}.

    MMEDGE_DATA=../shared/data python benchmarks/event_stream.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_stream(model: Any, clips: Any, hop_s: float, chunk_s: float) -> dict[str, Any]:
    from mmedge.runtime.event_stream import EventStream
    from mmedge.tasks import AudioEvents

    rate = clips.sample_rates[0]
    stream = EventStream(model, sample_rate=rate, hop_s=hop_s)
    step = round(chunk_s * rate)
    delays, found, seconds, windows = [], [], 0.0, 0
    for x in clips.samples:
        parts = []
        t0 = time.perf_counter()
        for i in range(0, len(x), step):
            events = stream.push(x[i : i + step])
            parts.append(events)
            delays += [stream.position_s - off for off in events.offsets_s]
        windows += stream.windows
        last = stream.flush()
        seconds += time.perf_counter() - t0
        parts.append(last)
        delays += [len(x) / rate - off for off in last.offsets_s]
        found.append(AudioEvents.concat(parts))
    audio_s = sum(len(x) for x in clips.samples) / rate
    return {
        "hop_s": hop_s,
        "latency_bound_s": stream.latency_s,
        "delay_median_s": float(np.median(delays)),
        "delay_max_s": float(np.max(delays)),
        "cpu_ms_per_audio_s": 1e3 * seconds / audio_s,
        "windows_per_audio_s": windows / audio_s,
        "events": found,
    }


def same_events(a: Any, b: Any) -> bool:
    return (
        a.class_ids.tolist() == b.class_ids.tolist()
        and np.allclose(a.onsets_s, b.onsets_s, atol=1e-9)
        and np.allclose(a.offsets_s, b.offsets_s, atol=1e-9)
    )


def plot(path: Path, rows: list[dict[str, Any]], batch_ms: float, chunk_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    xs = [r["cpu_ms_per_audio_s"] for r in rows]
    ax.plot(xs, [r["delay_max_s"] for r in rows], "o-", label="measured, worst event")
    ax.plot(xs, [r["latency_bound_s"] + chunk_s for r in rows], "s--",
            label="stated bound (latency_s) + one chunk")  # fmt: skip
    for r, x in zip(rows, xs, strict=True):
        ax.annotate(f"hop {r['hop_s']:g} s", (x, r["delay_max_s"]), textcoords="offset points",
                    xytext=(4, -12), fontsize=8)  # fmt: skip
    ax.axvline(batch_ms, color="#8c8c8c", ls=":", label="predict() on the whole recording")
    ax.set_xlabel("CPU ms per second of signal (1 thread)")
    ax.set_ylabel("event reported after its end (s)")
    ax.set_title("EventStream: latency vs cost (digit_events, 100 ms chunks)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--hops", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5])
    parser.add_argument("--chunk-s", type=float, default=0.1)
    args = parser.parse_args()

    import common
    from tqdm import tqdm

    import mmedge
    from mmedge.export.recipes.sound_events import make_event_split

    clips = make_event_split("eval", args.clips, seed=3)
    rate = clips.sample_rates[0]
    with mmedge.Model(
        mmedge.builtin_bundle("digit_events"), precision="fp32", backend="ort", intra_op_threads=1
    ) as model:
        model.predict(clips.samples[0], sample_rate=rate)  # warm-up
        t0 = time.perf_counter()
        whole = [model.predict(x, sample_rate=rate) for x in clips.samples]
        audio_s = sum(len(x) for x in clips.samples) / rate
        batch_ms = 1e3 * (time.perf_counter() - t0) / audio_s
        rows = []
        for hop in tqdm(args.hops, desc="hops", unit="hop"):
            r = run_stream(model, clips, hop, args.chunk_s)
            r["equal_to_predict"] = sum(
                same_events(a, b) for a, b in zip(r.pop("events"), whole, strict=True)
            )
            rows.append(r)
    n_events = sum(len(w) for w in whole)
    payload = {
        "benchmark": "event_stream",
        "machine": common.machine(),
        "clips": args.clips,
        "audio_s": audio_s,
        "events": n_events,
        "chunk_s": args.chunk_s,
        "predict_whole_cpu_ms_per_audio_s": batch_ms,
        "streams": rows,
    }
    lines = [
        "# Audio events on a live signal (EventStream)",
        "",
        f"digit_events (fp32, ONNX Runtime CPU, 1 thread) on {args.clips} clips of 6 s "
        f"({n_events} events: spoken digits of an unseen speaker in real background sound), "
        f"pushed in {args.chunk_s * 1e3:.0f} ms chunks. Delay: the stream's position when an "
        "event came out minus its true end. Command: "
        "`MMEDGE_DATA=../shared/data python benchmarks/event_stream.py`.",
        "",
        "| hop s | latency_s + chunk s | delay median s | delay max s | CPU ms per s of signal | "
        "vs predict() | clips with predict()'s events |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hop_s']:g} | {r['latency_bound_s'] + args.chunk_s:.3f} | "
            f"{r['delay_median_s']:.3f} | "
            f"{r['delay_max_s']:.3f} | {r['cpu_ms_per_audio_s']:.2f} | "
            f"{r['cpu_ms_per_audio_s'] / batch_ms:.1f}x | {r['equal_to_predict']}/{args.clips} |"
        )
    lines += [
        "",
        f"predict() on each whole recording (offline, after it ended): {batch_ms:.2f} CPU ms "
        "per second of signal. The stream recomputes each window's context (0.63 s on each "
        "side): the shorter the hop, the lower the latency and the more windows per second. "
        "The delay includes waiting for the chunk that completes the evidence: the stated "
        "bound (`EventStream.latency_s`) is the stream's own, so the table adds one chunk.",
        "",
    ]
    md = "\n".join(lines)
    folder = common.write_results("event_stream", common.machine_tag(), payload, md,
                                  lambda p: plot(p, rows, batch_ms, args.chunk_s))  # fmt: skip
    print(md)
    print(f"results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
