"""The gates of an audio_events head: parity on the frame scores (the standard numbers, with
the share of frames whose decoded class activity agrees), and accuracy as event-based F1 by
sed_eval (EventBasedMetrics: onset collar 200 ms, offset within 200 ms or 20% of the event's
length, micro-averaged over classes: DCASE's definition), on the staged evaluation features (the
int8 stage's bound) and through mmedge.Model on the recordings (the bundle's report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.errors import ExportError
from mmedge.runtime.model import Model
from mmedge.tasks.event_head import EventHead
from mmedge.tasks.events import AudioEvents

COLLAR_S = 0.2
OFFSET_SHARE = 0.2


def event_f1(
    found: Sequence[AudioEvents],
    truth: Sequence[Sequence[tuple[float, float, int]]],
    labels: Sequence[str],
) -> dict[str, float]:
    """Event-based F1, precision and recall (micro over classes) by sed_eval."""
    try:
        import dcase_util
        import sed_eval
    except ImportError as exc:
        raise ExportError(
            f"event F1 needs sed_eval ({exc}): pip install sed_eval 'setuptools<81'"
        ) from exc
    metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=list(labels), t_collar=COLLAR_S, percentage_of_length=OFFSET_SHARE,
        evaluate_onset=True, evaluate_offset=True,
    )  # fmt: skip
    for i, (est, ref) in enumerate(zip(found, truth, strict=True)):
        name = f"clip{i:05d}"
        reference = dcase_util.containers.MetaDataContainer(
            [
                {"filename": name, "event_label": labels[c], "onset": a, "offset": b}
                for a, b, c in ref
            ]
        )
        estimated = dcase_util.containers.MetaDataContainer(
            [
                {"filename": name, **{k: e[k] for k in ("event_label", "onset", "offset")}}
                for e in est.to_list()
            ]
        )
        metrics.evaluate(reference_event_list=reference, estimated_event_list=estimated)
    overall = metrics.results_overall_metrics()["f_measure"]
    return {k: float(np.nan_to_num(overall[k])) for k in ("f_measure", "precision", "recall")}


class EventChecks:
    """The head of an audio_events export and the checks built on it."""

    def __init__(self, head: EventHead, labels: Sequence[str]) -> None:
        self.head, self.labels = head, list(labels)

    def parity(
        self, output: str, reference: np.ndarray, candidate: np.ndarray, precision: str
    ) -> ParityReport:
        """The frame scores' numbers (compare(); pass or fail by them), with the share of
        frames whose thresholded activity (posterior >= the onset threshold) agrees."""
        report = compare(
            reference, candidate, output=output, tolerance=ParityTolerance.for_precision(precision)
        )
        on = [self.head.posteriors(x.reshape(-1, x.shape[-1])) >= self.head.onset_threshold
              for x in (reference, candidate)]  # fmt: skip
        agree = float((on[0] == on[1]).mean())
        return replace(report, notes=[*report.notes, f"frame activity agrees {agree:.4%}"])

    def accuracy(self, raw: np.ndarray, truth: Any) -> float:
        """Event F1 of head outputs on the staged evaluation features."""
        found = [self.head.decode(x, self.labels) for x in raw]
        return event_f1(found, truth.events, self.labels)["f_measure"]


def model_f1(bundle: Path, file: str, data: Any) -> dict[str, float]:
    """Event F1 of one artifact through mmedge.Model on the recordings."""
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        found = [model.predict(s, sample_rate=r) for s, r in
                 zip(data.samples, data.sample_rates, strict=True)]  # fmt: skip
    return event_f1(found, data.events, data.label_names)
