"""Many streams, one model: the cameras of one modality batched into one backend call.

`Pipeline.add("cams", [cam0, cam1, ...], bundle, batch=True, max_delay_ms=10)` makes one
modality per stream ("cams/0", "cams/1", ..., or "cams/<key>" for a dict of sources), each with
its own source, reader thread and queue (drop-oldest for live sources, blocking for files, as
every modality), and one `StreamGroup` whose worker takes them in batches:

- it waits for the first frame of any stream; the batch closes `max_delay_ms` after that frame
  arrived (time.monotonic() at decode), or as soon as every running stream has a frame in it
  (at most one frame per stream: a stream's frames stay in order and one busy stream cannot
  fill a batch the others wait for);
- a stream that stalls holds the others for at most `max_delay_ms`; a stream that ends leaves
  the group and the rest batch on;
- the batch is preprocessed in one fused kernel call and run in one backend call over the
  bundle's dynamic batch axis (`pad=True`: always as many rows as streams, the missing ones
  copies of the last, for engines that run best at one fixed shape);
- results carry their stream's modality name and the frame's source time, so fusion treats
  each stream as a modality: with the default trigger (the first stream) each fused result
  holds every stream's newest result and the other modalities' (audio, say) within
  max_skew_ms; `trigger="cams/1"` anchors on another stream.

Telemetry: the group's own 'preprocess' / 'infer' / 'postprocess' (per batch) and batch-size
counters ('batch_1', 'batch_2', ...); each stream's 'wait' (frame arrival to its batch's start)
and 'latency' (frame arrival to its result, as for every modality), and its drops. The shared
model gets up to 4 ONNX Runtime threads (its one worker runs every stream's batches).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mmedge.errors import MMEdgeError
from mmedge.pipeline.branches import Modality
from mmedge.runtime.model import Model
from mmedge.sources.base import Source, VideoFrame

MAX_DELAY_MS = 1000.0  # a longer batching delay is a configuration error, not a policy


def stream_sources(name: str, source: Any) -> dict[str, Source] | None:
    """None for a single Source; {name/key: source} for a list (keys 0..N-1) or a dict of
    sources, refused unless they are all Sources of one kind."""
    if isinstance(source, Source):
        return None
    if isinstance(source, Mapping):
        items = [(str(k), s) for k, s in source.items()]
    elif isinstance(source, Sequence) and not isinstance(source, str):
        items = [(str(i), s) for i, s in enumerate(source)]
    else:
        raise MMEdgeError(
            f"{name}: source must be an mmedge.sources.Source, or a list or dict of them, got "
            f"{type(source).__name__}"
        )
    if not items:
        raise MMEdgeError(f"{name}: an empty list of sources")
    wrong = [k for k, s in items if not isinstance(s, Source)]
    if wrong:
        raise MMEdgeError(f"{name}: source {wrong[0]} is not an mmedge.sources.Source")
    kinds = sorted({s.kind for _, s in items})
    if len(kinds) > 1:
        raise MMEdgeError(f"{name}: the streams of one modality must be of one kind, got {kinds}")
    return {f"{name}/{k}": s for k, s in items}


def check_batchable(
    name: str, model: Model, sources: Mapping[str, Source], max_delay_ms: float
) -> None:
    """Raises unless `model` can take the streams' frames in batches within max_delay_ms."""
    if not 0.0 <= max_delay_ms <= MAX_DELAY_MS:
        raise MMEdgeError(
            f"{name}: max_delay_ms must be in [0, {MAX_DELAY_MS:.0f}] ms, got {max_delay_ms}"
        )
    kind = next(iter(sources.values())).kind
    spec = model.spec
    if kind != "video" or spec is None or spec.kind != "image" or len(model.inputs) != 1:
        raise MMEdgeError(
            f"{name}: batching takes video streams into a single-input image or detection "
            f"bundle; got {kind} sources and {model.bundle.name}"
        )
    batch_axis = model.inputs[0].shape[0]
    if isinstance(batch_axis, int):
        raise MMEdgeError(
            f"{name}: {model.bundle.name} has a fixed batch of {batch_axis} (input "
            f"{model.inputs[0].name} {list(model.inputs[0].shape)}): re-export it with a dynamic "
            "batch axis to batch streams"
        )


class StreamGroup:
    """The streams of one batched modality and how their frames are collected (see the
    module docstring). members: one Modality per stream, sharing `model`."""

    def __init__(self, name: str, members: list[Modality], max_delay_ms: float, pad: bool) -> None:
        self.name, self.members, self.pad = name, members, pad
        self.max_delay_s = max_delay_ms / 1000.0
        self.model = members[0].model
        self.running = list(members)
        self._cond = threading.Condition()
        self._closed = False

    def wake(self) -> None:
        """A member's reader put something in its queue (or the run stops)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def collect(self) -> list[tuple[Modality, Any]] | None:
        """The next batch: (member, item) pairs, one per member at most; an item that is not a
        VideoFrame ends its member (it leaves `running`). None once every member has ended or
        the group was closed."""
        taken: dict[str, tuple[Modality, Any]] = {}
        deadline: float | None = None
        with self._cond:
            while True:
                for m in self.running:
                    if m.name in taken or not len(m.queue):
                        continue
                    item = m.queue.get(timeout=0)
                    if item is None:
                        continue
                    taken[m.name] = (m, item)
                    if isinstance(item, VideoFrame):
                        first = item.arrived + self.max_delay_s
                        deadline = first if deadline is None else min(deadline, first)
                ended = [m for m, item in taken.values() if not isinstance(item, VideoFrame)]
                for m in ended:
                    self.running.remove(m)
                frames = len(taken) - len(ended)
                if ended or (
                    frames
                    and (frames == len(self.running) or time.monotonic() >= (deadline or 0.0))
                ):
                    return list(taken.values())
                if self._closed or not self.running:
                    return None
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._cond.wait(wait)
