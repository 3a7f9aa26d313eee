"""The core's state, in one place: every task, the ready queue, the running set, the expected
releases, the timeout deadlines, the resource pool, the pool quotas, the walltime and the dirty
flag.

Contract: plain bookkeeping with no transitions of its own: :mod:`tandem.core.transitions`
changes tasks and the structures that follow them; the handlers (:mod:`tandem.core.handlers`,
:mod:`tandem.core.steering`) and the scheduling pass (:mod:`tandem.core.dispatch`) call it.
Its methods look things up (a task, a request's bucket and feasibility, a resuming task's
bucket), drop stale deadlines, and forget a final task (which moves no task). No I/O, no
clock. Holds no reference to itself or to the scheduler (a dropped scheduler is
freed at once, without the cycle collector).

Imports: tandem.core.backfill, tandem.core.barrier, tandem.core.policy, tandem.core.pool,
tandem.core.pools, tandem.core.states, tandem.core.task, tandem.core.values, tandem.errors,
tandem.spec.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Any

from tandem.core.backfill import Releases
from tandem.core.barrier import Barriers
from tandem.core.policy import ENTRY, Bucket, Mode, Order, Policy, ReadyQueue
from tandem.core.pool import ResourcePool
from tandem.core.pools import Quotas
from tandem.core.states import FINAL
from tandem.core.task import CoreTask
from tandem.core.values import Walltime
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.resources import Resources
from tandem.spec.task import TaskSpec


class CoreState:
    """Everything the scheduler knows, as plain attributes (see each one's comment)."""

    __slots__ = (
        "barrier", "burst", "burst_ready", "cp", "deadlines", "deferred", "dirty", "entry",
        "feasible", "last_bucket", "last_req", "levels", "locality", "platform", "policy", "pool",
        "push", "queue", "quotas", "recompute_of", "recomputing", "releases", "running", "tasks",
        "unfinished", "wait_heap", "waits", "wall", "wall_over",
    )

    def __init__(self, platform: Platform, policy: Policy,
                 pools: Mapping[str, Quota] | None = None,
                 walltime: Walltime | None = None) -> None:
        self.platform = platform
        self.policy = policy
        self.pool = ResourcePool(platform, policy.fit)          # free core and GPU ids
        self.quotas = Quotas(platform, pools) if pools else None
        self.tasks: dict[int, CoreTask] = {}                  # every task not forgotten
        self.queue = ReadyQueue(self.tasks)                   # ready and resuming tasks
        self.push: Callable[[CoreTask, tuple[Any, ...], Bucket], None] = self.queue.push
        self.running: dict[int, CoreTask] = {}                # tasks that hold a placement
        self.releases = Releases(self.running)                # their expected ends
        self.deadlines: list[tuple[float, int, int]] = []     # (deadline, task id, attempt)
        self.feasible: dict[Resources, bool] = {}             # shapes known to fit somewhere
        # The last plain request submitted and its bucket (see bucket_of).
        self.last_req: Resources | None = None
        self.last_bucket: Any = None                          # a Bucket once last_req is set
        self.unfinished = 0                                   # tasks not final yet
        self.dirty = False                                    # a scheduling pass is due
        self.cp = policy.order is Order.CRITICAL_PATH
        self.entry: Callable[[CoreTask], tuple[float, ...]] = ENTRY[policy.order]
        self.barrier = policy.mode is Mode.BARRIER
        self.levels = Barriers()                              # barrier mode: tasks per level
        self.burst: list[CoreTask] = []        # critical path: submitted, bottoms not settled
        self.burst_ready: list[CoreTask] = []  # of those, the ones with nothing to wait for
        self.wall = walltime                   # when the resources go away (tandem.core.walltime)
        self.wall_over = False                 # its end was handled: nothing is launched now
        self.deferred: dict[int, CoreTask] = {}  # held back: would not end before the walltime
        # Data-aware placement (tandem.core.locality): on, with several nodes.
        self.locality = policy.locality and len(platform.nodes) > 1
        self.waits: dict[int, float] = {}       # task id -> until when it waits for its inputs
        self.wait_heap: list[tuple[float, int]] = []   # (until, task id), entries may be stale
        # Results lost with their node, being recomputed (tandem.core.recompute).
        self.recomputing: dict[int, int] = {}   # producer id -> its recomputation's id
        self.recompute_of: dict[int, int] = {}  # recomputation id -> the producer's id

    def task(self, task_id: int) -> CoreTask:
        """The task ``task_id``; :class:`SpecError` if there is none (or it was forgotten)."""
        try:
            return self.tasks[task_id]
        except KeyError:
            raise SpecError(f"no task with id {task_id}") from None

    def bucket_of(self, spec: TaskSpec) -> tuple[Bucket, str | None]:
        """The queue bucket of a task of ``spec`` and its quota pool, once the request is known
        to fit (:meth:`check_feasible` raises otherwise); a plain request is remembered as the
        last one (submissions often share one request object: an identity test is cheaper
        than hashing it)."""
        req = spec.resources
        if self.quotas is None and spec.pool is None:
            bucket = self.queue.buckets.get(req)
            if bucket is None:       # a shape not seen before: check it can ever fit
                self.check_feasible(spec)
                bucket = self.queue.bucket_for(req)
            self.last_req, self.last_bucket = req, bucket
            return bucket, None
        self.check_feasible(spec)
        pool = self.pool_of(spec)
        return self.queue.bucket_for(req, pool), pool

    def live_deadlines(self) -> list[tuple[float, int, int]]:
        """The deadline heap, first rid of its stale entries when they are most of it."""
        d = self.deadlines
        if len(d) > 2 * len(self.running) + 64:
            tasks = self.tasks
            d[:] = [e for e in d if (x := tasks.get(e[1])) is not None and x.deadline == e[0]
                    and x.attempt == e[2]]
            heapq.heapify(d)
        return d

    def forget(self, task_id: int) -> None:
        """Drop the final task ``task_id`` (:class:`SpecError` if it is not final): nothing here
        refers to it afterwards. Not a transition: its state stays what it was."""
        t = self.task(task_id)
        if t.state not in FINAL:
            raise SpecError(f"cannot forget task {task_id} ({t.spec.name!r}): it is "
                            f"{t.state.value}, not final")
        del self.tasks[task_id]
        if self.deferred:
            self.deferred.pop(task_id, None)
        if self.waits:
            self.waits.pop(task_id, None)
        for d in t.deps:             # it may still be listed as waiting on an unfinished task
            p = self.tasks.get(d)
            if p is not None and p.dependents:
                p.dependents = [c for c in p.dependents if c is not t] or None
        if self.barrier:
            self.levels.forget(t)
        t.dependents = None

    def resume_bucket(self, t: CoreTask) -> Bucket:
        """The queue bucket of a resuming task: its cores, on its node, from its pool."""
        assert t.placement is not None
        return self.queue.bucket_for(Resources(cores=t.req.cores), t.pool, t.placement.node)

    def check_feasible(self, spec: TaskSpec) -> None:
        """Raise :class:`InfeasibleRequest` if ``spec`` can never run here, and
        :class:`SpecError` if it names a pool that does not exist."""
        if spec.pool is not None or self.quotas is not None:
            self.pool_of(spec)
        req = spec.resources
        if req not in self.feasible:
            try:
                self.platform.check_feasible(req, task=spec.name)
            except InfeasibleRequest as e:
                if spec.pool is None:
                    raise
                raise InfeasibleRequest(f"{e}; it asks for pool {spec.pool!r}") from None
            self.feasible[req] = True

    def pool_of(self, spec: TaskSpec) -> str:
        """The quota pool a task of ``spec`` draws on (:class:`SpecError` without pools)."""
        if self.quotas is None:
            raise SpecError(f"task {spec.name!r} asks for pool {spec.pool!r}, but this session "
                            "has no resource pools (open it with pools=...)")
        return self.quotas.resolve(spec.pool, spec.resources, spec.name)

    def footprint(self) -> dict[str, int]:
        """How many entries each structure holds (for memory checks: after every task was
        forgotten, each one is 0 or bounded by a small constant)."""
        q = self.queue
        return {
            "tasks": len(self.tasks),
            "running": len(self.running),
            "queued_entries": sum(len(b.heap) + len(b.run) for b in q.buckets.values()),
            "deadlines": len(self.deadlines),
            "releases": self.releases.size(),
            "held_by_barrier": self.levels.held_count(),
            "burst": len(self.burst) + len(self.burst_ready),
            "deferred": len(self.deferred),
            "waits": len(self.waits) + len(self.wait_heap),
            "recomputing": len(self.recomputing) + len(self.recompute_of),
        }
