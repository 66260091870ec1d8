"""A bounded queue with the two policies the pipeline needs: live sources drop the oldest item
(never fall behind the sensor, drops counted), recorded sources block the producer (never lose
an item). close() wakes every waiter."""

from __future__ import annotations

import collections
import threading
from typing import Any

CLOSED = object()  # get() returns this once the queue is closed and empty


class BoundedQueue:
    def __init__(self, maxsize: int, *, drop_oldest: bool) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Adds an item; returns False when the queue is closed (the item is discarded)."""
        with self._cond:
            if self.drop_oldest:
                if len(self._items) >= self.maxsize:
                    self._items.popleft()
                    self.dropped += 1
            else:
                self._cond.wait_for(lambda: len(self._items) < self.maxsize or self._closed)
            if self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; CLOSED once closed and drained; None on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return CLOSED

    def set_drop_oldest(self, drop_oldest: bool) -> None:
        """Switches the policy (e.g. a buffer that kept the newest items until a consumer
        attached, and from then on blocks the producer)."""
        with self._cond:
            self.drop_oldest = drop_oldest
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
