"""Shared benchmark plumbing: interleaved timing, machine description, result files.

Timing: every method runs in each of `rounds` rounds, in rotating order, `calls` calls per round,
each call timed with perf_counter; the median over all calls is the figure. Interleaving makes a
slow minute on a shared machine hit every method alike, so the ratios stay honest even when the
absolute numbers drift.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmedge.info import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Timing:
    method: str
    threads: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    calls: int


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def machine_tag(device: str = "cpu", extra: str | None = None) -> str:
    """Folder name of a machine's results, e.g. 'amd-epyc-2cpu' or 'nvidia-h100-80gb-hbm3'."""
    base = extra if extra else f"{cpu_model()}-{os.cpu_count()}cpu"
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    slug = re.sub(r"-(processor|cpu-@.*|with-.*)$", "", slug)
    return slug if device == "cpu" else f"{slug}"


def time_interleaved(
    methods: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    calls: int,
    warmup: int,
    threads: int,
    desc: str,
    warm_each_block: bool = False,
) -> list[Timing]:
    """Median per method over `rounds` rounds, each running every method `calls` times back to
    back, in rotating order. warm_each_block: one untimed call starts each block, so a method
    is not charged for waking cores and threads the previous method left idle (a core idle for
    ~10 ms takes ~1 ms to come back to speed on the CI VM)."""
    for fn in methods.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in tqdm(range(rounds), desc=desc, unit="round", leave=False):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = samples[name].append
            call = methods[name]
            if warm_each_block:
                call()
            for _ in range(calls):
                t0 = time.perf_counter()
                call()
                fn(time.perf_counter() - t0)
    out = []
    for name in names:
        ms = np.asarray(samples[name]) * 1e3
        out.append(
            Timing(
                name,
                threads,
                float(np.median(ms)),
                float(np.percentile(ms, 10)),
                float(np.percentile(ms, 90)),
                int(ms.size),
            )
        )
    return out


def write_results(
    name: str,
    tag: str,
    payload: dict[str, Any],
    markdown: str,
    plot: Callable[[Path], None] | None = None,
) -> Path:
    """Writes NAME.json, NAME.md (and NAME.png) under benchmarks/results/TAG/; returns the dir."""
    folder = RESULTS / tag
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (folder / f"{name}.md").write_text(markdown)
    if plot is not None:
        plot(folder / f"{name}.png")
    return folder


def timings_to_dicts(timings: Sequence[Timing]) -> list[dict[str, Any]]:
    return [asdict(t) for t in timings]


def bar_plot(path: Path, timings: Sequence[Timing], title: str, highlight: str) -> None:
    """Grouped bars: median ms per method, one group per thread count, p10-p90 whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = sorted({t.threads for t in timings})
    methods = list(dict.fromkeys(t.method for t in timings))
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=120)
    width = 0.8 / len(methods)
    peer_colours = iter(["#4c72b0", "#dd8452", "#8c8c8c", "#937860", "#8172b3"])
    for i, method in enumerate(methods):
        rows = [next(t for t in timings if t.method == method and t.threads == n) for n in threads]
        xs = np.arange(len(threads)) + i * width
        medians = [r.median_ms for r in rows]
        err = [[r.median_ms - r.p10_ms for r in rows], [r.p90_ms - r.median_ms for r in rows]]
        bars = ax.bar(
            xs,
            medians,
            width,
            yerr=err,
            capsize=3,
            label=method,
            color="#76b900" if method == highlight else next(peer_colours),
        )
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(np.arange(len(threads)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels([f"{n} thread{'s' if n > 1 else ''}" for n in threads])
    ax.set_ylabel("median latency per call (ms, lower is better)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
