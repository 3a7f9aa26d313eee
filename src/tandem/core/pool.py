"""The resource pool: which core ids and GPU ids of which node are free.

Contract: pure bookkeeping, no I/O, no clock; imports ``tandem.spec`` and ``tandem.core.values``.
Invariant: a core or GPU id is handed out to at most one task at a time (never oversubscribed);
``release`` of something not held raises :class:`TandemInternalError`.

Placement picks the lowest free ids of a node, so decisions are deterministic. ``FIRST_FIT``
takes the first node (platform order) where a rank fits, ``BEST_FIT`` the node it leaves with
the fewest free cores (then GPUs). Nodes with free cores and nodes with free GPUs are indexed, so
placement on a mostly-busy 10,000-node platform does not scan the busy ones.

Imports: tandem.core.values, tandem.errors, tandem.spec.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from tandem.core.values import Placement, Slot
from tandem.errors import TandemInternalError
from tandem.spec.platform import Platform
from tandem.spec.resources import Resources


class Fit(Enum):
    """How the pool chooses a node for a rank."""

    FIRST_FIT = "first_fit"
    BEST_FIT = "best_fit"


class _NodeFree:
    __slots__ = ("cores", "free_cores", "free_gpus", "free_mem", "gpus", "index", "name",
                 "single")

    def __init__(self, index: int, name: str, cores: tuple[int, ...], gpus: tuple[str, ...],
                 mem: int | None) -> None:
        self.index = index
        self.name = name
        self.cores = cores
        self.gpus = gpus
        self.free_cores: list[int] = list(range(len(cores)))   # positions into ``cores``
        self.free_gpus: list[int] = list(range(len(gpus)))     # positions into ``gpus``
        self.free_mem = mem
        # One reusable placement per core for one-core, no-GPU requests (the common case):
        # placements are frozen values, so sharing them is safe and saves two allocations.
        self.single = [Placement(slots=(Slot(node=name, cores=(c,), gpus=()),)) for c in cores]


class _Hint:
    """First-fit memory of one shape: no node below ``lb`` fits it, except perhaps the nodes in
    ``dirty`` (released since). Placement then scans O(1) nodes amortised, not the platform."""

    __slots__ = ("dirty", "lb")

    def __init__(self) -> None:
        self.lb = 0
        self.dirty: list[int] = []   # a heap; a node may appear more than once


@dataclass(frozen=True, slots=True)
class Reservation:
    """When and where the first blocked task is expected to fit, and what is left over there
    for others at that time (``spare_*``)."""

    at: float
    node: str
    spare_cores: int
    spare_gpus: int


class ResourcePool:
    """Free core and GPU ids per node, with deterministic placement."""

    def __init__(self, platform: Platform, fit: Fit = Fit.FIRST_FIT) -> None:
        self.platform = platform
        self.fit = fit
        self._first_fit_order = fit is Fit.FIRST_FIT
        self._nodes = [_NodeFree(i, n.name, n.cores, n.gpus, n.memory_mb)
                       for i, n in enumerate(platform.nodes)]
        self._by_name = {n.name: n for n in self._nodes}
        # id of a shared one-core placement -> (node, core position), for a fast release.
        self._single_pos = {id(pl): (n, p) for n in self._nodes for p, pl in enumerate(n.single)}
        self._with_cores = [n.index for n in self._nodes if n.cores]
        self._with_gpus = [n.index for n in self._nodes if n.gpus]
        self._live = [n.index for n in self._nodes]    # not lost: where a request of nothing fits
        self.free_cores = platform.total_cores
        self.free_gpus = platform.total_gpus
        self._hints: dict[Resources, _Hint] = {}
        self.lost: set[str] = set()      # nodes lost: nothing placed there, nothing returned

    # -- queries ---------------------------------------------------------------------------
    def can_fit_anything(self) -> bool:
        return self.free_cores > 0 or self.free_gpus > 0

    def held(self) -> dict[str, tuple[set[int], set[str]]]:
        """Currently allocated core and GPU ids per node (for checks and tests)."""
        out: dict[str, tuple[set[int], set[str]]] = {}
        for n in self._nodes:
            cores = set(n.cores) - {n.cores[i] for i in n.free_cores}
            gpus = set(n.gpus) - {n.gpus[i] for i in n.free_gpus}
            out[n.name] = (cores, gpus)
        return out

    # -- placement -------------------------------------------------------------------------
    def _fits(self, n: _NodeFree, req: Resources) -> bool:
        return (len(n.free_cores) >= req.cores and len(n.free_gpus) >= req.gpus
                and (req.memory_mb is None or n.free_mem is None
                     or n.free_mem >= req.memory_mb))

    def _candidates(self, req: Resources) -> list[int]:
        return self._with_gpus if req.gpus else self._with_cores if req.cores else self._live

    def _choose(self, req: Resources, exclude: set[int] | None = None) -> _NodeFree | None:
        nodes = self._nodes
        c, g, mem = req.cores, req.gpus, req.memory_mb
        if self.fit is Fit.FIRST_FIT:
            if exclude is None:
                return self._first_fit(req)
            for i in self._candidates(req):
                n = nodes[i]
                if len(n.free_cores) >= c and len(n.free_gpus) >= g \
                        and (mem is None or n.free_mem is None or n.free_mem >= mem) \
                        and i not in exclude:
                    return n
            return None
        best: _NodeFree | None = None
        best_key = (0, 0)
        for i in self._candidates(req):
            n = nodes[i]
            if (exclude is None or i not in exclude) and self._fits(n, req):
                key = (len(n.free_cores) - c, len(n.free_gpus) - g)
                if best is None or key < best_key:
                    best, best_key = n, key
        return best

    def _first_fit(self, req: Resources) -> _NodeFree | None:
        """The lowest-index node where ``req`` fits, using and updating the shape's hint."""
        h = self._hints.get(req)
        if h is None:
            h = self._hints[req] = _Hint()
        nodes = self._nodes
        c, g, mem = req.cores, req.gpus, req.memory_mb
        dirty = h.dirty
        while dirty:
            n = nodes[dirty[0]]
            if len(n.free_cores) >= c and len(n.free_gpus) >= g \
                    and (mem is None or n.free_mem is None or n.free_mem >= mem):
                return n
            heapq.heappop(dirty)
        index = self._candidates(req)
        for k in range(bisect.bisect_left(index, h.lb), len(index)):
            n = nodes[index[k]]
            if len(n.free_cores) >= c and len(n.free_gpus) >= g \
                    and (mem is None or n.free_mem is None or n.free_mem >= mem):
                h.lb = n.index
                return n
        h.lb = len(nodes)
        return None

    def _released(self, i: int) -> None:
        for h in self._hints.values():
            if i < h.lb:
                heapq.heappush(h.dirty, i)

    def try_place(self, req: Resources) -> Placement | None:
        """Take resources for ``req`` now, or return ``None`` if they are not free."""
        if req.ranks == 1:
            if req.cores > self.free_cores or req.gpus > self.free_gpus:
                return None
            if req.cores == 1 and not req.gpus and req.memory_mb is None:
                # One core, the common case: first fit is the lowest node with a free core.
                wc = self._with_cores
                node = self._nodes[wc[0]] if self._first_fit_order else self._choose(req)
                if node is None:
                    return None
                fc = node.free_cores
                placement = node.single[fc.pop(0)]
                self.free_cores -= 1
                if not fc:
                    if node.index == wc[0]:
                        del wc[0]
                    else:
                        self._drop(wc, node.index)
                return placement
            n = self._choose(req)
            if n is None:
                return None
            return Placement(slots=(self._take(n, req),))
        if req.total_cores > self.free_cores or req.total_gpus > self.free_gpus:
            return None
        # MPI: place ranks one by one, packing each node before moving on.
        chosen: list[tuple[_NodeFree, int]] = []
        left = req.ranks
        one = Resources(cores=req.cores, gpus=req.gpus, memory_mb=req.memory_mb) \
            if req.cores or req.gpus else req
        for i in self._candidates(req):
            n = self._nodes[i]
            k = _ranks_fitting(n, one)
            if k:
                take = min(k, left)
                chosen.append((n, take))
                left -= take
                if not left:
                    break
        if left:
            return None
        slots = [self._take(n, one) for n, k in chosen for _ in range(k)]
        return Placement(slots=tuple(slots))

    def _take(self, n: _NodeFree, req: Resources) -> Slot:
        c, g = req.cores, req.gpus
        fc, fg = n.free_cores, n.free_gpus
        if c == 1:
            cores: tuple[int, ...] = (n.cores[fc.pop(0)],)
        else:
            cores = tuple([n.cores[i] for i in fc[:c]])
            del fc[:c]
        if g:
            gpus = tuple([n.gpus[i] for i in fg[:g]])
            del fg[:g]
        else:
            gpus = ()
        if req.memory_mb is not None and n.free_mem is not None:
            n.free_mem -= req.memory_mb
        self.free_cores -= c
        self.free_gpus -= g
        if c and not fc:
            self._drop(self._with_cores, n.index)
        if g and not fg:
            self._drop(self._with_gpus, n.index)
        return Slot(node=n.name, cores=cores, gpus=gpus)

    def try_place_on(self, node: str, req: Resources) -> Placement | None:
        """Take ``req`` (one rank) on ``node`` now, or ``None`` if it is not free there (a task
        resuming after a pause that released its cores cannot change node)."""
        n = self._by_name[node]
        if not self._fits(n, req):
            return None
        return Placement(slots=(self._take(n, req),))

    def free_on(self, node: str) -> tuple[int, int]:
        """Free cores and GPUs of ``node``."""
        n = self._by_name[node]
        return len(n.free_cores), len(n.free_gpus)

    def free_core_ids(self, node: str) -> tuple[int, ...]:
        """The free core ids of ``node``, lowest first."""
        n = self._by_name[node]
        cores = n.cores
        return tuple([cores[i] for i in n.free_cores])

    def last_core(self, node: str) -> tuple[int, ...]:
        """The last core id of ``node`` (``()`` for a node without cores)."""
        cores = self._by_name[node].cores
        return cores[-1:]

    def release_cores(self, placement: Placement) -> Placement:
        """Give back the cores of the one-slot ``placement`` (a pause that releases them); the
        placement that is left: same node and GPUs, no cores."""
        slot = placement.slots[0]
        self.release(Placement(slots=(Slot(node=slot.node, cores=slot.cores),)),
                     Resources(cores=len(slot.cores)))
        return Placement(slots=(Slot(node=slot.node, cores=(), gpus=slot.gpus),))

    def shared_cores(self, node: str) -> tuple[int, ...]:
        """Where a task without cores on ``node`` is pinned: the node's free cores now, else its
        last core."""
        return self.free_core_ids(node) or self.last_core(node)

    @staticmethod
    def _drop(index: list[int], i: int) -> None:
        k = bisect.bisect_left(index, i)
        if k < len(index) and index[k] == i:
            del index[k]

    def lose(self, node: str) -> None:
        """``node`` is gone: its free cores and GPUs are taken out for good, and what its
        running tasks hold is not given back when they end."""
        n = self._by_name[node]
        if node in self.lost:
            return
        self.lost.add(node)
        self.free_cores -= len(n.free_cores)
        self.free_gpus -= len(n.free_gpus)
        n.free_cores.clear()
        n.free_gpus.clear()
        n.free_mem = 0 if n.free_mem is not None else None
        self._drop(self._with_cores, n.index)
        self._drop(self._with_gpus, n.index)
        self._drop(self._live, n.index)

    def release(self, placement: Placement, req: Resources) -> None:
        """Give back what ``try_place`` took for ``req`` (nothing of a lost node)."""
        if self.lost:
            placement = Placement(slots=tuple(
                sl for sl in placement.slots if sl.node not in self.lost)) \
                if any(sl.node in self.lost for sl in placement.slots) else placement
            if not placement.slots:
                return
        hit = self._single_pos.get(id(placement))
        if hit is not None:
            n, p = hit
            fc = n.free_cores
            k = bisect.bisect_left(fc, p)
            if k < len(fc) and fc[k] == p:
                raise TandemInternalError(f"core {n.cores[p]} of {n.name} released twice")
            if not fc:
                bisect.insort(self._with_cores, n.index)
            fc.insert(k, p)
            self.free_cores += 1
            if self._hints:
                self._released(n.index)
            return
        for slot in placement.slots:
            n = self._by_name[slot.node]
            if self._hints:
                self._released(n.index)
            if slot.cores:
                had = bool(n.free_cores)
                pos = n.cores.index
                for c in slot.cores:
                    p = pos(c)
                    k = bisect.bisect_left(n.free_cores, p)
                    if k < len(n.free_cores) and n.free_cores[k] == p:
                        raise TandemInternalError(f"core {c} of {n.name} released twice")
                    n.free_cores.insert(k, p)
                if not had:
                    bisect.insort(self._with_cores, n.index)
                self.free_cores += len(slot.cores)
            if slot.gpus:
                had = bool(n.free_gpus)
                for g in slot.gpus:
                    p = n.gpus.index(g)
                    k = bisect.bisect_left(n.free_gpus, p)
                    if k < len(n.free_gpus) and n.free_gpus[k] == p:
                        raise TandemInternalError(f"GPU {g} of {n.name} released twice")
                    n.free_gpus.insert(k, p)
                if not had:
                    bisect.insort(self._with_gpus, n.index)
                self.free_gpus += len(slot.gpus)
            if req.memory_mb is not None and n.free_mem is not None:
                n.free_mem += req.memory_mb

    # -- reservations (backfill) -----------------------------------------------------------
    def reserve(
        self, req: Resources, releases: Iterable[tuple[float, Placement]], now: float,
    ) -> Reservation | None:
        """When ``req`` (one node) fits at the earliest, if running tasks end at the given times
        (``releases`` in time order, ``inf`` when unknown; consumed only as far as needed).
        ``None`` for multi-rank requests. Memory is not considered."""
        if req.ranks != 1:
            return None
        c, g = req.cores, req.gpus
        if req.memory_mb is None:
            n = self._first_fit(req)
        else:
            n = next((self._nodes[i] for i in self._candidates(req)
                      if len(self._nodes[i].free_cores) >= c
                      and len(self._nodes[i].free_gpus) >= g), None)
        if n is not None:
            return Reservation(at=now, node=n.name, spare_cores=len(n.free_cores) - c,
                               spare_gpus=len(n.free_gpus) - g)
        # Nothing fits now, so at each release instant only the nodes it touches may start to.
        free: dict[int, list[int]] = {}
        touched: list[int] = []
        at = now
        for t, placement in releases:
            if t != at and touched:
                found = self._fitting(free, touched, c, g, at)
                if found is not None:
                    return found
                touched = []
            at = t
            for slot in placement.slots:
                n = self._by_name[slot.node]
                f = free.get(n.index)
                if f is None:
                    f = free[n.index] = [len(n.free_cores), len(n.free_gpus)]
                f[0] += len(slot.cores)
                f[1] += len(slot.gpus)
                touched.append(n.index)
        return self._fitting(free, touched, c, g, at) if touched else None

    def _fitting(self, free: dict[int, list[int]], touched: list[int], c: int, g: int,
                 at: float) -> Reservation | None:
        best = -1
        for i in touched:
            fc, fg = free[i]
            if fc >= c and fg >= g and (best < 0 or i < best):
                best = i
        if best < 0:
            return None
        fc, fg = free[best]
        return Reservation(at=at, node=self._nodes[best].name, spare_cores=fc - c,
                           spare_gpus=fg - g)


def _ranks_fitting(n: _NodeFree, one: Resources) -> int:
    by_c = len(n.free_cores) // one.cores if one.cores else 1 << 30
    by_g = len(n.free_gpus) // one.gpus if one.gpus else 1 << 30
    if one.memory_mb and n.free_mem is not None:
        by_m = n.free_mem // one.memory_mb
        return min(by_c, by_g, by_m)
    return min(by_c, by_g)
