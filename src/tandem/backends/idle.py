"""The idle function workers of a :class:`~tandem.backends.functions.FunctionBackend`.

Contract: bookkeeping only (no processes, no I/O). Idle workers are found by their key, the GPU
set a worker serves for its life (with its node, for workers on the nodes of an allocation:
``(node, GPU set)``), and, to prefer a worker already pinned to the wanted cores, by (key,
cores). Each keeps the order in which workers went idle, so the longest idle is found
first.
Imports: tandem.backends.worker_handle.
"""

from __future__ import annotations

from typing import Any

from tandem.backends.worker_handle import WorkerHandle

#: A GPU set, or ``(node, GPU set)``.
Key = tuple[Any, ...]


class IdleWorkers:
    """Idle workers by key and by (key, cores), oldest first."""

    __slots__ = ("_by_key", "_by_slot", "_n", "_seq", "max_idle")

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._by_slot: dict[tuple[Key, tuple[int, ...] | None], dict[WorkerHandle, None]] = {}
        self._by_key: dict[Key, dict[WorkerHandle, None]] = {}
        self._n = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._n

    def take(self, key: Key, cores: tuple[int, ...]) -> WorkerHandle | None:
        """An idle worker of ``key``, pinned to ``cores`` if there is one."""
        bucket = self._by_slot.get((key, cores))
        if bucket:
            w = bucket.popitem()[0]
            del self._by_key[key][w]
        else:
            by_key = self._by_key.get(key)
            if not by_key:
                return None
            w = by_key.popitem()[0]
            del self._by_slot[(key, w.cores)][w]
        self._n -= 1
        return w

    def add(self, w: WorkerHandle) -> None:
        self._seq += 1
        w.seq = self._seq
        slot_key = (w.key, w.cores)
        bucket = self._by_slot.get(slot_key)
        if bucket is None:
            bucket = self._by_slot[slot_key] = {}
        bucket[w] = None
        by_key = self._by_key.get(w.key)
        if by_key is None:
            by_key = self._by_key[w.key] = {}
        by_key[w] = None
        self._n += 1

    def remove(self, w: WorkerHandle) -> None:
        del self._by_key[w.key][w]
        del self._by_slot[(w.key, w.cores)][w]
        self._n -= 1

    def over(self) -> bool:
        """Whether more than ``max_idle`` workers are idle."""
        return self._n > self.max_idle

    def oldest(self, keep: Key) -> WorkerHandle:
        """The longest-idle worker, preferring one of another key than ``keep``."""
        oldest: WorkerHandle | None = None
        for key, bucket in self._by_key.items():
            if key != keep and bucket:
                first = next(iter(bucket))
                if oldest is None or first.seq < oldest.seq:
                    oldest = first
        return oldest if oldest is not None else next(iter(self._by_key[keep]))
