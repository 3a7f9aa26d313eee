"""Simulate a workflow: the real :class:`~tandem.core.scheduler.Scheduler` on virtual time.

Contract: pure computation (no I/O, no clock). Each task has a modelled duration; a launch
completes ``duration + overhead`` virtual seconds later. Timeouts fire through the core's
``next_deadline``. The result holds the core's own task records, so every metric that reads a
runtime trace reads a simulation too.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tandem.core.actions import Launch
from tandem.core.events import Exited, Started, Submitted, TimerFired
from tandem.core.policy import Policy
from tandem.core.record import TaskRecord
from tandem.core.scheduler import Scheduler
from tandem.core.values import Failure, FailureKind
from tandem.errors import SpecError
from tandem.spec.platform import Platform
from tandem.spec.task import TaskSpec
from tandem.trace.instrument import Instrument


@dataclass(frozen=True, slots=True, kw_only=True)
class SimTask:
    """A task to simulate: its spec, the indices of the tasks it depends on (in the list given
    to :func:`simulate`), its modelled duration, and whether it fails."""

    spec: TaskSpec
    duration: float
    deps: tuple[int, ...] = ()
    fails: bool = False


@dataclass(frozen=True, slots=True)
class SimResult:
    makespan: float
    records: tuple[TaskRecord, ...]
    launches: tuple[Launch, ...]


def simulate(
    platform: Platform,
    tasks: Sequence[SimTask],
    policy: Policy | None = None,
    *,
    overhead: float = 0.0,
    instruments: Sequence[Instrument] = (),
) -> SimResult:
    """Run ``tasks`` (all submitted at time 0, in order) to completion on virtual time."""
    core = Scheduler(platform, policy)
    done_at: list[tuple[float, int, int]] = []   # (time, task id, attempt)
    launches: list[Launch] = []
    now = 0.0
    for ins in instruments:
        ins.run_started(platform, "simulated", now, 0.0)

    def act(actions: Iterable[object]) -> None:
        for a in actions:
            if type(a) is Launch:
                launches.append(a)
                for ins in instruments:
                    ins.task_launched(a, now)
                core.handle(Started(a.task_id), now)
                t = tasks[a.task_id]
                heapq.heappush(done_at, (now + t.duration + overhead, a.task_id, a.attempt))

    for i, t in enumerate(tasks):
        for d in t.deps:
            if not 0 <= d < i:
                raise SpecError(f"task {i} ({t.spec.name!r}): dependency {d} must be an "
                                "earlier task's index")
        act(core.handle(Submitted(task_id=i, spec=t.spec, deps=t.deps), now))
    makespan = 0.0
    while done_at:
        deadline = core.next_deadline()
        if deadline is not None and deadline < done_at[0][0]:
            now = deadline
            act(core.handle(TimerFired(), now))
            continue
        now, tid, attempt = heapq.heappop(done_at)
        if core.record(tid).attempts != attempt or core.state(tid).final:
            continue
        t = tasks[tid]
        failure = Failure(kind=FailureKind.EXIT, message="simulated failure", exit_code=1) \
            if t.fails else None
        act(core.handle(Exited(tid, failure), now))
        makespan = now
    records = tuple(core.record(i) for i in range(len(tasks)))
    for ins in instruments:
        for r in records:
            ins.task_ended(r)
        ins.run_ended(makespan)
    return SimResult(makespan=makespan, records=records, launches=tuple(launches))
