"""Model.predict for bundles with an audio_events head: the recording's features, the network's
frame posteriors and the head's events (onset / offset in s from the recording's start)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mmedge.errors import PreprocessError
from mmedge.tasks.events import AudioEvents

if TYPE_CHECKING:
    from mmedge.runtime.model import Model


def predict_events(
    model: Model, samples: Sequence[Any], sample_rates: Sequence[int] | None
) -> list[AudioEvents]:
    """The events of each of N recordings (each its own backend call: their lengths differ)."""
    if model.spec is None or model.spec.kind != "audio" or len(model.inputs) != 1:
        raise PreprocessError(
            f"bundle {model.bundle.name!r}: audio_events heads run on single-input audio models"
        )
    head = model.heads[0]
    name = head.output or model.outputs[0].name
    out = []
    for i, sample in enumerate(samples):
        rate = None if sample_rates is None else sample_rates[i]
        scores = model.backend.infer(model.preprocess(sample, sample_rate=rate))[name]
        out.append(head.decode(scores[0], head.labels_or(model.labels)))
    return out
