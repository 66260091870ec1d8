"""The demo's timeline, a picture read at a glance: the scene's truth and its sensor failures
(shaded) on top; one lane per modality with its answer (colour = class), its confidence (bar
height) and the results fusion left out for their input health (hatched); the fused answer
and confidence; each modality's staleness at the fused times. Needs matplotlib."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from mmedge.sources.synthetic import LABELS, SyntheticScene

COLOURS = {"circle": "#4c72b0", "square": "#dd8452", "triangle": "#55a868"}
FAILURE = {"dark": "#555555", "frozen": "#8172b3", "noise": "#c44e52", "muted": "#937860"}


def plot_timeline(
    rows: list[dict[str, Any]], names: list[str], scene: SyntheticScene | None, path: str | Path
) -> Path:
    """Writes the timeline of the demo's fused results `rows` (FusedResult.to_dict() plus
    'truth') to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    lanes = ["truth", *names, "fused"]
    fig, (ax, stale) = plt.subplots(
        2, 1, figsize=(12, 1.0 + 0.55 * len(lanes) + 1.6), dpi=110, sharex=True,
        gridspec_kw={"height_ratios": [len(lanes), 2]},
    )  # fmt: skip
    step = min((b["t_s"] - a["t_s"] for a, b in itertools.pairwise(rows)), default=0.5)
    y = {lane: len(lanes) - 1 - i for i, lane in enumerate(lanes)}
    if scene is not None:
        for d in scene.degradations:
            ax.axvspan(d.t_start_s, d.t_end_s, color=FAILURE[d.kind], alpha=0.15, lw=0)
            what = f"{'camera' if d.camera else 'mic'} {d.kind}"
            middle = (d.t_start_s + d.t_end_s) / 2
            ax.text(middle, len(lanes) - 0.35, what, ha="center", fontsize=7)
        for seg in scene.segments:
            ax.barh(y["truth"], seg.t_end_s - seg.t_start_s, left=seg.t_start_s, height=0.8,
                    color=COLOURS.get(seg.label, "#999999"))  # fmt: skip
    for r in rows:
        t0 = r["t_s"] - step
        ax.barh(y["fused"], step, left=t0, height=0.8 * r["score"], color=COLOURS.get(r["label"]))
        for c in r["contributors"]:
            if c["modality"] not in y or c["label"] is None:
                continue
            ax.barh(
                y[c["modality"]], step, left=t0, height=0.8 * (c["score"] or 0),
                color=COLOURS.get(c["label"]), hatch="///" if c.get("health") else None,
                edgecolor="white" if c.get("health") else None, lw=0,
            )  # fmt: skip
    for name in names:
        pts = [(r["t_s"], c["staleness_ms"]) for r in rows for c in r["contributors"]
               if c["modality"] == name]  # fmt: skip
        stale.plot([p[0] for p in pts], [p[1] for p in pts], ".-", ms=3, lw=0.8, label=name)
    ax.set_yticks(list(y.values()), list(y.keys()))
    ax.set_ylim(-0.6, len(lanes) - 0.1)
    ax.set_title("answers (colour: class; height: confidence; hatched: left out of fusion for "
                 "its input health); shaded: sensor failures", fontsize=9)  # fmt: skip
    legend = [Patch(color=COLOURS[k], label=k) for k in LABELS]
    legend.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="left out"))
    ax.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    stale.set_ylabel("staleness (ms)")
    stale.set_xlabel("source time (s)")
    stale.legend(fontsize=7, ncol=min(len(names), 6))
    stale.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
