"""The FusedResult of a fuser's answer: each chosen modality's part in it (window, staleness,
weight, own answer, input health), what was left out and why, the detection modalities' boxes
(own and re-scored by the classifiers' evidence) and track events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from mmedge.pipeline.detection_fusion import rescored_detections
from mmedge.pipeline.results import Contribution, FusedResult, ModalityResult

if TYPE_CHECKING:
    from mmedge.pipeline.branches import Modality
    from mmedge.pipeline.fusion import Fused


def assemble(
    fused: Fused,
    chosen: Mapping[str, ModalityResult],
    t_s: float,
    modalities: Mapping[str, Modality],
    now: float,
) -> FusedResult:
    """The FusedResult of a fuser's answer at trigger time t_s: each chosen modality's window,
    staleness, weight and own top class; the modalities left out; latency from the newest
    input's arrival (time.monotonic() `now`)."""
    index = int(np.argmax(fused.probs))
    contributors = []
    for name, r in chosen.items():
        own_label, own_score = None, None
        model = modalities[name].model
        if r.probs is not None and model is not None:
            k = int(np.argmax(r.probs))
            own_label = model.labels[k] if k < len(model.labels) else str(k)
            own_score = float(r.probs[k])
        contributors.append(
            Contribution(
                name,
                r.t_start_s,
                r.t_end_s,
                (t_s - r.t_end_s) * 1e3,
                fused.weights.get(name, 0.0),
                own_label,
                own_score,
                r.health,
            )
        )
    left_out = [
        f"{n} ({r.health})" for n, r in chosen.items() if r.health and n not in fused.weights
    ]
    note = "; ".join(
        x for x in (fused.note, f"left out: {', '.join(left_out)}" if left_out else "") if x
    )
    newest = max(r.arrived for r in chosen.values())
    return FusedResult(
        t_s=t_s,
        label=fused.labels[index] if index < len(fused.labels) else str(index),
        index=index,
        score=float(fused.probs[index]),
        probs=np.asarray(fused.probs, np.float32),
        method=fused.method,
        contributors=contributors,
        missing=[n for n in modalities if n not in chosen],
        latency_ms=(now - newest) * 1e3,
        note=note,
        detections={n: r.detections for n, r in chosen.items() if r.detections is not None},
        rescored=rescored_detections(chosen, modalities, fused.weights),
        events={n: r.events for n, r in chosen.items() if r.detections is not None},
    )
