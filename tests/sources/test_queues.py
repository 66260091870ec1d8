"""BoundedQueue: drop-oldest for live sources (drops counted), blocking for recorded ones (nothing
lost), close() waking every waiter, and the switch an iterator makes from one to the other."""

from __future__ import annotations

import threading

import pytest

from mmedge.sources.queues import CLOSED, BoundedQueue


def test_drop_oldest_keeps_the_newest_and_counts() -> None:
    q = BoundedQueue(3, drop_oldest=True)
    for i in range(10):
        assert q.put(i)
    assert q.dropped == 7 and len(q) == 3
    assert [q.get(), q.get(), q.get()] == [7, 8, 9]
    assert q.get(timeout=0.01) is None  # empty: timed out


def test_blocking_queue_loses_nothing() -> None:
    q = BoundedQueue(2, drop_oldest=False)
    got: list[int] = []

    def consume() -> None:
        while (item := q.get()) is not CLOSED:
            got.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(500):
        assert q.put(i)  # blocks while the consumer is behind
    q.close()
    consumer.join(5)
    assert got == list(range(500)) and q.dropped == 0


def test_close_wakes_a_blocked_producer_and_consumers() -> None:
    q = BoundedQueue(1, drop_oldest=False)
    q.put("first")
    outcome: list[bool] = []
    producer = threading.Thread(target=lambda: outcome.append(q.put("second")))
    producer.start()
    producer.join(0.1)
    assert producer.is_alive()  # full: waiting
    q.close()
    producer.join(5)
    assert outcome == [False]  # discarded, not blocked forever
    assert q.get() == "first" and q.get() is CLOSED  # drained, then closed


def test_switching_to_blocking_keeps_what_was_buffered() -> None:
    q = BoundedQueue(2, drop_oldest=True)
    for i in range(5):
        q.put(i)
    q.set_drop_oldest(False)
    assert q.dropped == 3 and [q.get(), q.get()] == [3, 4]


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        BoundedQueue(0, drop_oldest=True)
