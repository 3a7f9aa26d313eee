"""The ready queue (tandem.core.policy): order keys, buckets per shape, lazy deletion."""

from __future__ import annotations

from typing import Any

from tandem.core.policy import (
    ENTRY,
    Mode,
    Order,
    Policy,
    ReadyQueue,
    entry_critical_path,
    entry_fifo,
    entry_priority,
)
from tandem.spec import Resources


class T:
    """A queued task as the queue sees it."""

    def __init__(self, tid: int, prio: int = 0, bottom: float = 0.0,
                 req: Resources | None = None) -> None:
        self.id = tid
        self.prio = prio
        self.bottom = bottom
        self.req = req or Resources(cores=1)
        self.entry: tuple[Any, ...] | None = None


def drain(q: ReadyQueue, bucket: Any) -> list[int]:
    out = []
    while (t := q.peek(bucket)) is not None:
        q.pop(bucket, t)
        out.append(t.id)
    return out


def test_order_keys() -> None:
    t = T(7, prio=2, bottom=3.5)
    assert entry_fifo(t) == (7,)
    assert entry_priority(t) == (-2, 7)
    assert entry_critical_path(t) == (-2, -3.5, 7)
    assert ENTRY[Order.FIFO] is entry_fifo
    assert Policy() == Policy(mode=Mode.ASYNC, order=Order.CRITICAL_PATH)


def test_entries_in_key_order_come_out_in_order_whatever_order_they_went_in() -> None:
    tasks: dict[int, T] = {}
    q = ReadyQueue(tasks)
    b = q.bucket_for(Resources(cores=1))
    for tid, prio in [(0, 0), (1, 5), (2, 0), (3, 5), (4, 1)]:
        tasks[tid] = t = T(tid, prio)
        q.push(t, entry_priority(t), b)
    assert drain(q, b) == [1, 3, 4, 0, 2]
    assert q.peek(b) is None


def test_a_task_that_leaves_or_is_re_keyed_leaves_a_stale_entry_that_is_skipped() -> None:
    tasks: dict[int, T] = {i: T(i) for i in range(4)}
    q = ReadyQueue(tasks)
    b = q.bucket_for(Resources(cores=1))
    for t in tasks.values():
        q.push(t, entry_priority(t), b)
    tasks[0].entry = None                          # left the queue (cancelled)
    tasks[2].prio = 9
    q.push(tasks[2], entry_priority(tasks[2]), b)  # re-keyed: its old entry goes stale
    assert len(b.run) + len(b.heap) == 5
    assert drain(q, b) == [2, 1, 3]
    assert len(b.run) + len(b.heap) == 0           # stale entries were dropped on the way


def test_an_entry_of_a_forgotten_task_is_skipped() -> None:
    tasks: dict[int, T] = {i: T(i) for i in range(3)}
    q = ReadyQueue(tasks)
    b = q.bucket_for(Resources(cores=1))
    for t in tasks.values():
        q.push(t, entry_fifo(t), b)
    tasks[1].entry = None
    del tasks[1]
    tasks[0].entry = None
    del tasks[0]
    assert drain(q, b) == [2]


def test_one_bucket_per_shape_and_heads_in_order() -> None:
    tasks: dict[int, T] = {}
    q = ReadyQueue(tasks)
    one, two = Resources(cores=1), Resources(cores=2)
    b1 = q.bucket_for(one)
    assert q.only is b1 and b1.plain
    b2 = q.bucket_for(two)
    assert q.only is None and q.bucket_for(one) is b1
    pooled = q.bucket_for(one, "sim")
    on_node = q.bucket_for(one, None, "n0")
    assert not pooled.plain and not on_node.plain and pooled is not b1
    for tid, b in [(0, b2), (1, b1), (2, b2)]:
        tasks[tid] = t = T(tid)
        q.push(t, entry_fifo(t), b)
    heads = q.heads()
    assert [entry for entry, _ in sorted(heads)] == [(0,), (1,)]
