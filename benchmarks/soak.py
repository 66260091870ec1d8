#!/usr/bin/env python3
"""Soak: 8 pipelines over looping real clips, paced like cameras and microphones, for a
duration you pass; memory, threads and file descriptors sampled while they run.

Each pipeline: the frames of a clip in ../shared/data/video_clips (box.mp4, cup.mp4,
vtest.avi), looping and paced at the clip's frame rate (a live source: drop-oldest queues),
feed the built-in image model (every 2nd frame) and, through tee(), the video model; the
clip's audio track (box, cup) or a real recording (../shared/data/env_audio, for vtest.avi),
looping and paced, feeds the audio model; log-linear fusion twice a second. Every 10 s the
process's resident memory (VmRSS), its threads and open fds are sampled.

Reported (after one short warm-up pipeline has loaded the decoders' and ONNX Runtime's
libraries, so that their fds and threads count as 'before'): the RSS slope after warm-up (a
least-squares line over the samples after the first quarter of the run, MB/min; the target
is <= 0.1 MB/min), RSS at the end of warm-up and at the end, threads and fds (constant while
running, back to the start after stop()), fused results, errors (0 expected) and whether
every thread was joined.

    python benchmarks/soak.py --minutes 30   # -> benchmarks/results/<machine>/soak.{json,md,png}
    python benchmarks/soak.py --minutes 1 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_tag, write_results

import mmedge
from mmedge.datasets import data_dir
from mmedge.sources import AudioChunk, AudioFile, Source, VideoFile, VideoFrame, tee

PIPELINES = 8
SAMPLE_EVERY_S = 10.0


class LoopingLive(Source):
    """A recorded source made endless and live: reopened at its end (timestamps keep
    increasing), each item released when its media time has passed on the wall clock."""

    live = True

    def __init__(self, make: Callable[[], VideoFile | AudioFile]) -> None:
        self.make = make
        self.inner = make()
        self.kind, self.name = self.inner.kind, f"live:{self.inner.name}"
        self._offset_s = 0.0
        self._last_end_s = 0.0
        self._t0: float | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def read(self) -> VideoFrame | AudioChunk | None:
        with self._lock:
            if self._closed.is_set():
                return None
            item = self.inner.read()
            if item is None:  # the end: start over, later on the timeline
                self.inner.close()
                self.inner = self.make()
                self._offset_s = self._last_end_s
                item = self.inner.read()
            if item is None:
                return None
            item.t_s += self._offset_s
            self._last_end_s = item.t_end_s
        self._t0 = self._t0 if self._t0 is not None else time.monotonic()
        self._closed.wait(max(0.0, self._t0 + item.t_s - time.monotonic()))
        item.arrived = time.monotonic()
        return None if self._closed.is_set() else item

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self.inner.close()


def _pipeline(i: int, root: Path) -> mmedge.Pipeline:
    clip = root / "video_clips" / ("box.mp4", "cup.mp4", "vtest.avi")[i % 3]
    audio = clip if clip.suffix == ".mp4" else next((root / "env_audio").glob("*.ogg"))
    frames = LoopingLive(lambda: VideoFile(clip, decoder="pyav"))
    sound = LoopingLive(lambda: AudioFile(audio, decoder="pyav"))
    for_image, for_clips = tee(frames, 2)
    return (
        mmedge.Pipeline()
        .add("image", for_image, mmedge.builtin_bundle("scene_image"), every_n=2)
        .add("video", for_clips, mmedge.builtin_bundle("scene_video"))
        .add("audio", sound, mmedge.builtin_bundle("scene_audio"))
        .fuse("log_linear", rate_hz=2.0, max_skew_ms=1000)
    )


def _sample() -> dict[str, float]:
    rss_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return {
        "t_s": time.monotonic(),
        "rss_mb": rss_kb / 1024,
        "threads": threading.active_count(),
        "fds": len(os.listdir("/proc/self/fd")),
    }


def soak(minutes: float, root: Path) -> dict[str, Any]:
    tqdm.monitor_interval = 0  # no tqdm monitor thread: every thread left after stop() is ours
    warm = _pipeline(0, root)  # loads the decoders' and ONNX Runtime's libraries once
    warm.start()
    time.sleep(2.0)
    warm.stop()
    before = _sample()
    pipes = [_pipeline(i, root) for i in range(PIPELINES)]
    counts = [0] * PIPELINES
    for i, pipe in enumerate(pipes):
        pipe.on_result(lambda r, i=i: counts.__setitem__(i, counts[i] + 1))
        pipe.start()
    samples = []
    t_end = time.monotonic() + minutes * 60
    with tqdm(total=round(minutes * 60), desc="soak", unit="s") as bar:
        while (now := time.monotonic()) < t_end:
            samples.append(_sample())
            time.sleep(min(SAMPLE_EVERY_S, max(0.0, t_end - now)))
            bar.update(round(min(SAMPLE_EVERY_S, t_end - now)))
    samples.append(_sample())
    stats = [p.stats() for p in pipes]
    t_stop = time.perf_counter()
    for pipe in pipes:
        pipe.stop()
    stop_s = time.perf_counter() - t_stop
    after = _sample()
    t = np.array([s["t_s"] for s in samples]) - samples[0]["t_s"]
    rss = np.array([s["rss_mb"] for s in samples])
    warm = t >= t[-1] / 4
    slope = float(np.polyfit(t[warm] / 60, rss[warm], 1)[0]) if warm.sum() >= 3 else float("nan")
    errors = [e for s in stats for e in s["errors"]]
    return {
        "minutes": minutes,
        "pipelines": PIPELINES,
        "rss_slope_mb_per_min_after_warmup": slope,
        "rss_mb_at_warmup_end": float(rss[warm][0]),
        "rss_mb_at_end": float(rss[-1]),
        "threads_running": sorted({s["threads"] for s in samples}),
        "fds_running": sorted({s["fds"] for s in samples}),
        "threads_before_after": [before["threads"], after["threads"]],
        "fds_before_after": [before["fds"], after["fds"]],
        "fused_results": sum(counts),
        "results_per_s": sum(counts) / (minutes * 60),
        "dropped": sum(m.get("dropped", 0) for s in stats for m in s["modalities"].values()),
        "errors": errors,
        "stop_s": stop_s,
        "samples": [
            {k: round(v - samples[0]["t_s"], 1) if k == "t_s" else v for k, v in s.items()}
            for s in samples
        ],
    }


def _markdown(r: dict[str, Any]) -> str:
    ok = r["rss_slope_mb_per_min_after_warmup"] <= 0.1 and not r["errors"]
    return "\n".join(
        [
            f"# Soak: {r['pipelines']} live pipelines for {r['minutes']:g} min",
            "",
            f"Machine: {r['machine']['cpu']}, {r['machine']['cpus']} cores. "
            "Command: `python benchmarks/soak.py --minutes "
            f"{r['minutes']:g}`.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| RSS slope after warm-up | {r['rss_slope_mb_per_min_after_warmup']:.3f} MB/min "
            "(target <= 0.1) |",
            f"| RSS at warm-up end / end | {r['rss_mb_at_warmup_end']:.1f} / "
            f"{r['rss_mb_at_end']:.1f} MB |",
            f"| threads while running | {r['threads_running']} |",
            f"| fds while running | {r['fds_running']} |",
            f"| threads before / after stop | {r['threads_before_after']} |",
            f"| fds before / after stop | {r['fds_before_after']} |",
            f"| fused results | {r['fused_results']} ({r['results_per_s']:.1f}/s) |",
            f"| items dropped (live queues) | {r['dropped']} |",
            f"| errors | {len(r['errors'])} |",
            f"| stop() of all pipelines | {r['stop_s']:.2f} s |",
            "",
            f"Verdict: {'holds' if ok else 'FAILS'} (slope <= 0.1 MB/min, 0 errors).",
            "",
        ]
    )


def _plot(r: dict[str, Any]) -> Callable[[Path], None]:
    def plot(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t = [s["t_s"] / 60 for s in r["samples"]]
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
        ax.plot(t, [s["rss_mb"] for s in r["samples"]], marker=".")
        ax.axvline(t[-1] / 4, color="grey", ls="--", lw=0.8, label="end of warm-up")
        ax.set_xlabel("minutes")
        ax.set_ylabel("RSS (MB)")
        ax.set_title(
            f"{r['pipelines']} live pipelines: RSS slope after warm-up "
            f"{r['rss_slope_mb_per_min_after_warmup']:.3f} MB/min"
        )
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)

    return plot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args()
    result = {"machine": machine(), **soak(args.minutes, data_dir())}
    md = _markdown(result)
    print(md)
    if not args.no_write:
        folder = write_results("soak", machine_tag(), result, md, _plot(result))
        print(f"written to {folder}")


if __name__ == "__main__":
    main()
