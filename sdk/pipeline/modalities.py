"""What Pipeline.add() builds: the model opened (or shared) and checked against its source, the
Modality with its tracker, counters and re-scoring, and for several streams one modality per
stream, batched through one shared model (mmedge.pipeline.streams) or each with its own."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmedge.errors import MMEdgeError
from mmedge.pipeline.branches import BRANCHES, Modality
from mmedge.pipeline.streams import StreamGroup, check_batchable
from mmedge.runtime.model import Model
from mmedge.sources.base import Source
from mmedge.tasks.detection import DetectionHead
from mmedge.track.events import LineCounter, Region
from mmedge.track.tracker import Tracker

BundleRef = Any  # a path, a Bundle or a Model


def threads_per_model() -> int:
    """ONNX Runtime intra-op threads per model: the modalities run in parallel already."""
    return 1 if (os.cpu_count() or 1) <= 2 else 2


def open_model(
    bundle: BundleRef | None, owned: list[Model], options: dict[str, Any]
) -> Model | None:
    """The Model of `bundle` (a Model is used as it is; one opened here joins `owned`)."""
    if bundle is None or isinstance(bundle, Model):
        return bundle
    options.setdefault("intra_op_threads", threads_per_model())
    model = Model(bundle, **options)
    owned.append(model)
    return model


def refuse(message: str, model: Model | None, owned: list[Model]) -> MMEdgeError:
    """The error to raise, after closing `model` if it was opened for this add()."""
    if model is not None and model in owned:
        owned.remove(model)
        model.close()
    return MMEdgeError(message)


def check_fits(name: str, source: Source, model: Model, owned: list[Model]) -> None:
    """Raises (closing a model it opened) unless a branch runs `model` on `source`."""
    branch = BRANCHES.get(model.spec.kind) if model.spec is not None else None
    if len(model.inputs) == 1 and branch is not None and branch.source_kind == source.kind:
        return
    takes = " or ".join(k for k, b in BRANCHES.items() if b.source_kind == source.kind)
    raise refuse(
        f"{name}: a {source.kind} source needs a single-input {takes} bundle; "
        f"{model.bundle.name} takes {[t.name for t in model.inputs]} "
        f"({type(model.spec).__name__ if model.spec else 'tensors'})",
        model,
        owned,
    )


def detection_options(
    modality: Modality,
    owned: list[Model],
    track: bool | Tracker,
    counters: Sequence[LineCounter | Region],
    rescore: float,
    streams: int = 1,
) -> None:
    """Gives a detection modality its tracker (a copy per stream of a Tracker given for
    several), counters and rescore strength; raises (closing the model) on a misfit."""
    name, model = modality.name, modality.model
    if model is not None and len(model.heads) > 1:
        raise refuse(
            f"{name}: {model.bundle.name} is a multi-task bundle ({len(model.heads)} heads: "
            f"{', '.join(h.task for h in model.heads)}); pipelines run classification and "
            "single-head detection bundles (multi-task: mmedge.Model.predict)",
            model,
            owned,
        )
    if model is not None and model.heads and not isinstance(model.heads[0], DetectionHead):
        raise refuse(
            f"{name}: {model.bundle.name} has a {model.heads[0].task} head; pipelines run "
            "classification and detection bundles (segmentation: mmedge.Model.predict)",
            model,
            owned,
        )
    if track:
        if model is None or not model.heads:
            raise refuse(f"{name}: track= needs a detection bundle", model, owned)
        given = isinstance(track, Tracker)
        modality.tracker = (copy.deepcopy(track) if streams > 1 else track) if given else Tracker()
    if counters and modality.tracker is None:
        raise refuse(f"{name}: counters= count tracks: add track=True", model, owned)
    if counters and streams > 1:
        raise refuse(
            f"{name}: counters= are drawn in one camera's pixels; add them to a single stream",
            model,
            owned,
        )
    if not rescore >= 0:
        raise refuse(f"{name}: rescore must be >= 0, got {rescore}", model, owned)
    modality.counters, modality.rescore = list(counters), float(rescore)


@dataclass(frozen=True)
class ModalityOptions:
    """Pipeline.add()'s options of a modality (see Pipeline.add)."""

    weight: float = 1.0
    window_s: float | None = None
    hop_s: float | None = None
    every_n: int = 1
    track: bool | Tracker = False
    counters: Sequence[LineCounter | Region] = ()
    rescore: float = 1.0
    queue_size: int = 8


def _modality(name: str, source: Source, model: Model | None, o: ModalityOptions) -> Modality:
    return Modality(name, source, model, o.weight, o.window_s, o.hop_s, o.every_n, o.queue_size)


def single_modality(
    name: str,
    source: Source,
    bundle: BundleRef | None,
    o: ModalityOptions,
    owned: list[Model],
    model_options: dict[str, Any],
) -> Modality:
    """One source and its own model."""
    if o.every_n < 1:
        raise MMEdgeError(f"{name}: every_n must be >= 1, got {o.every_n}")
    model = open_model(bundle, owned, model_options)
    if model is not None:
        check_fits(name, source, model, owned)
    modality = _modality(name, source, model, o)
    detection_options(modality, owned, o.track, o.counters, o.rescore)
    return modality


def stream_group(
    name: str,
    streams: dict[str, Source],
    bundle: BundleRef | None,
    o: ModalityOptions,
    owned: list[Model],
    model_options: dict[str, Any],
    max_delay_ms: float,
    pad: bool,
) -> StreamGroup:
    """Several streams batched through one model: a modality per stream, in one group. The
    model gets up to 4 ONNX Runtime threads (one worker runs every stream's batches)."""
    if o.every_n < 1:
        raise MMEdgeError(f"{name}: every_n must be >= 1, got {o.every_n}")
    model_options.setdefault("intra_op_threads", min(os.cpu_count() or 1, 4))
    model = open_model(bundle, owned, model_options)
    if model is None:
        raise MMEdgeError(f"{name}: batch=True needs a bundle")
    try:
        check_batchable(name, model, streams, max_delay_ms)
    except MMEdgeError as exc:
        raise refuse(str(exc), model, owned) from None
    members = []
    for stream, source in streams.items():
        check_fits(stream, source, model, owned)
        m = _modality(stream, source, model, o)
        detection_options(m, owned, o.track, o.counters, o.rescore, len(streams))
        members.append(m)
    group = StreamGroup(name, members, max_delay_ms, pad)
    for m in members:
        m.group = group
    return group
