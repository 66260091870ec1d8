"""tee(): one source feeding several modalities (a camera's frames to an image model and a
video model). A pump thread reads the source once and hands every item to every branch; live
branches drop their oldest item when their reader falls behind, file branches wait."""

from __future__ import annotations

import threading
from typing import Any

from mmedge.sources.base import Source
from mmedge.sources.queues import CLOSED, BoundedQueue

_END = object()


class _Hub:
    def __init__(self, source: Source, n: int, queue_size: int) -> None:
        self.source = source
        self.queues = [BoundedQueue(queue_size, drop_oldest=source.live) for _ in range(n)]
        self.open_branches = n
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._pump, name=f"mmedge-tee-{self.source.name}", daemon=True
                )
                self._thread.start()

    def _pump(self) -> None:
        try:
            self.source.open()
            while (item := self.source.read()) is not None:
                delivered = [q.put(item) for q in self.queues]
                if not any(delivered):
                    break
        except Exception as exc:  # handed to every branch's reader
            self.error = exc
        finally:
            for q in self.queues:
                q.put(_END)

    def close_branch(self) -> None:
        with self._lock:
            self.open_branches -= 1
            last = self.open_branches == 0
        if last:
            self.source.close()
            for q in self.queues:
                q.close()
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(5.0)


class _Branch(Source):
    def __init__(self, hub: _Hub, i: int) -> None:
        self.hub, self.i = hub, i
        self.kind, self.live = hub.source.kind, hub.source.live
        self.name = f"{hub.source.name}[{i}]"
        self._closed = False

    def open(self) -> None:
        self.hub.start()

    def read(self) -> Any:
        self.hub.start()
        item = self.hub.queues[self.i].get()
        if item is _END or item is CLOSED:
            if self.hub.error is not None:
                raise self.hub.error
            return None
        return item

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub.queues[self.i].close()
            self.hub.close_branch()

    def stats(self) -> dict[str, Any]:
        return {**self.hub.source.stats(), "dropped": self.hub.queues[self.i].dropped}

    @property
    def last_decode_ms(self) -> float | None:
        return getattr(self.hub.source, "last_decode_ms", None)


def tee(source: Source, n: int = 2, queue_size: int = 8) -> list[Source]:
    """n sources that each yield every item of `source` (read once)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    hub = _Hub(source, n, queue_size)
    return [_Branch(hub, i) for i in range(n)]
