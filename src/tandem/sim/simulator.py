"""The discrete-event engine: the real :class:`~tandem.core.scheduler.Scheduler` on virtual time.

Contract: pure computation (no I/O, no clock, no randomness: durations come from the caller).
Imports: tandem.core, tandem.errors, tandem.model.utilisation, tandem.spec, tandem.trace.instrument,
tandem.trace.instruments.

Rules (the same as the runtime's, with virtual seconds):

- every task is submitted at time 0, in one burst (``handle_many``), in the given order, which
  must be topological (a task's dependencies have lower indices);
- a launched task *starts* ``overhead`` seconds after its launch (the backend's launch latency:
  it holds its resources from the launch) and *exits* ``duration`` seconds after it starts; with
  no overhead no ``Started`` event is sent (the core then counts the launch as the start);
- events at the same virtual instant reach the core together (one ``handle_many``: starts, then
  exits in task order, then the timer if a deadline is due), so ties are broken by the core's
  policy, never by arrival order;
- data: a task with ``outputs`` (bytes of its result kept on its node, as the runtime keeps
  large results by reference) tells the core so at its exit (``Exited.kept``: the core's
  data-aware placement, :mod:`tandem.core.locality`, reads it); a task launched on another
  node than such a dependency first moves that input: ``network.latency + bytes /
  network.bandwidth`` of the platform's :class:`~tandem.spec.platform.Network` per input,
  added to its run (it holds its resources meanwhile);
- a ``Kill`` (timeout) ends the task at once; a task in ``fails`` exits with a failure on every
  attempt (retries run it again, same duration);
- resource pools (``pools``) are the core's, as in the runtime; ``steering`` events (a pool move,
  a pause, a preemption, ...) reach the core at their virtual times, after the exits of that
  instant. A paused task's clock stops (its exit moves by the time it was paused); a preempted
  task exits at once, as if it wrote a perfect checkpoint, and its next launch runs only the
  seconds it had left;
- a ``walltime`` is the core's (:mod:`tandem.core.walltime`) on virtual seconds: a task whose
  estimate would not end in time is deferred, and at its end the running tasks are preempted
  (they exit at once, as above) and every task left ends; the work a preempted task did is in
  :attr:`SimResult.carried`;
- instruments get the runtime's hooks, through the same
  :class:`~tandem.trace.instruments.Instruments` (a hook that raises is logged and removed):
  ``bind`` (the core's tasks), ``run_started``, ``task_launched`` at each launch,
  ``task_resolved`` and ``task_ended`` when the core resolves a task, ``flush`` every 4096
  resolved tasks and at the end, ``run_ended``; so a ``JsonlTrace`` writes the same trace as a
  real run.

The makespan is the paper's TTX: first start to last end; ``makespan_from_submit`` runs from
time 0 (the submission) to the last end.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.core.actions import Kill, Launch, Pause, Preempt, Resolve, Resume, Steered
from tandem.core.events import Event, Exited, Started, Submitted, TimerFired
from tandem.core.policy import Policy
from tandem.core.record import TaskRecord
from tandem.core.scheduler import Scheduler
from tandem.core.values import Failure, FailureKind, Walltime
from tandem.errors import SpecError
from tandem.model.utilisation import utilisation_over
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.resources import Resources
from tandem.spec.task import TaskSpec
from tandem.trace.instrument import Instrument
from tandem.trace.instruments import Instruments

_START, _EXIT, _STEER = 0, 1, 2
_FAILURE = Failure(kind=FailureKind.EXIT, message="simulated failure", exit_code=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimTask:
    """A task to simulate: its spec, the indices of the tasks it depends on (in the list given
    to :func:`simulate`), its modelled duration, whether it fails, and how many bytes of its
    result stay on its node for its dependents (``output_bytes``: 0, none)."""

    spec: TaskSpec
    duration: float
    deps: tuple[int, ...] = ()
    fails: bool = False
    output_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """One simulated run. ``records`` and ``launches`` are empty unless kept."""

    makespan: float
    makespan_from_submit: float
    first_start: float
    last_end: float
    core_seconds: float
    """Sum over tasks that ran of cores x (end - start)."""
    gpu_seconds: float
    tasks: int
    events: int
    """Events handed to the core (submissions, starts, exits, timers)."""
    records: tuple[TaskRecord, ...] = ()
    launches: tuple[Launch, ...] = ()
    carried: tuple[tuple[int, float], ...] = ()
    """``(task, seconds)``: work done by preempted attempts of tasks that did not run again
    (a walltime's end), which a perfect checkpoint keeps for the next run."""
    moved_bytes: int = 0
    """Bytes of kept results that moved to a dependent on another node."""
    transfer_seconds: float = 0.0
    """Seconds tasks spent moving those inputs (part of their runs)."""

    def utilisation(self, platform: Platform) -> dict[str, float]:
        """``{"cores": U, "gpus": U}``: busy unit-seconds over capacity x makespan
        (:func:`tandem.model.utilisation.utilisation_over`, with the busy seconds as one
        task-shaped span per resource)."""
        busy = (_Busy(cores=1, gpus=0, ended=self.core_seconds),
                _Busy(cores=0, gpus=1, ended=self.gpu_seconds))
        return utilisation_over(busy, {"cores": platform.total_cores,
                                       "gpus": platform.total_gpus}, self.makespan)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Busy:
    """Busy unit-seconds shaped as one task that ran from 0 to ``ended`` on one unit (what
    :mod:`tandem.model.utilisation` reads)."""

    cores: int
    gpus: int
    ended: float
    launched: float = 0.0
    started: float = 0.0


def policy_name(policy: Policy) -> str:
    """How the runtime names a policy in the trace's ``run`` record."""
    return f"{policy.mode.value}/{policy.order.value}"


def run(
    platform: Platform,
    specs: Sequence[TaskSpec],
    deps: Sequence[tuple[int, ...]],
    durations: Sequence[float],
    *,
    policy: Policy | None = None,
    overhead: float = 0.0,
    fails: Collection[int] = (),
    instruments: Sequence[Instrument] = (),
    keep: bool = True,
    pools: Mapping[str, Quota] | None = None,
    steering: Sequence[tuple[float, Event]] = (),
    walltime: Walltime | None = None,
    outputs: Sequence[int] | None = None,
) -> SimResult:
    """Simulate task ``i`` (``specs[i]``, waiting for ``deps[i]``, running ``durations[i]``
    seconds) for every ``i``; see the module docstring. ``outputs[i]``: bytes of task ``i``'s
    result kept on its node (``None``: no task keeps any). ``keep`` keeps every task's record and
    every launch in the result (costly for millions of tasks). ``pools``: resource pools and
    their quotas; ``steering``: ``(time, event)`` pairs handed to the core at those times;
    ``walltime``: the core's walltime on virtual seconds (deferral, the preemption at its end).

    Raises :class:`SpecError` if tasks are left that can never start (a pool's quota too small
    for them and no move to come, a paused task never resumed)."""
    n = len(specs)
    if len(deps) != n or len(durations) != n:
        raise SpecError("simulate: specs, deps and durations must have the same length")
    if overhead < 0:
        raise SpecError(f"simulate: overhead must be >= 0 seconds, got {overhead}")
    if outputs is not None:
        if len(outputs) != n:
            raise SpecError("simulate: outputs must have one entry per task")
        bad = next((i for i, b in enumerate(outputs) if not isinstance(b, int) or b < 0), None)
        if bad is not None:
            raise SpecError(f"task {bad} ({specs[bad].name!r}): output bytes must be an "
                            f"integer >= 0, got {outputs[bad]!r}")
        if not any(outputs):
            outputs = None
    node_of: list[str] = [""] * n if outputs is not None else []   # where each one ran
    network = platform.network
    moved = [0, 0.0]          # bytes moved, seconds spent moving them
    policy = policy or Policy()
    core = Scheduler(platform, policy, pools=pools, walltime=walltime)
    handle_many = core.handle_many
    heap: list[tuple[float, int, int, int]] = []   # (time, kind, task id, token)
    push, pop = heapq.heappush, heapq.heappop
    live = [0] * n            # token of the task's pending start and exit, 0 when none
    launch_at = [0.0] * n
    end_at = [0.0] * n        # when the pending exit is due
    left: dict[int, float] = {}     # paused: seconds of work it has left
    done: dict[int, float] = {}     # preempted: seconds of work done by earlier attempts
    token = 0
    kept: list[Launch] = []
    ins = Instruments(instruments)
    failing = frozenset(fails)
    busy: dict[Resources, float] = {}   # running seconds per request shape

    for i in fails:
        if not 0 <= i < n:
            raise SpecError(f"simulate: fails names task {i}, which does not exist")
    for i, d in enumerate(deps):
        if d and (min(d) < 0 or max(d) >= i):
            raise SpecError(f"task {i} ({specs[i].name!r}): dependencies {d} must be earlier "
                            "tasks' indices")
    ins.bind(core.tasks, core.pool_usage)
    ins.call("run_started", platform, policy_name(policy), 0.0, 0.0)
    # Instruments are not added during a simulation: which hooks anyone wants is known now
    # (one that raises is removed; calling the others stays right).
    on_launch = ins.wants("task_launched")
    on_resolve = ins.wants("task_resolved")
    on_end = ins.wants("task_ended")
    on_flush = ins.wants("flush")

    def arm(tid: int, kind: int, when: float) -> None:
        nonlocal token
        token += 1
        live[tid] = token
        push(heap, (when, kind, tid, token))

    first_launch = -1.0

    resolved = 0

    def act(actions: Iterable[Any], now: float) -> None:
        nonlocal token, first_launch, resolved
        for a in actions:
            tp = type(a)
            if tp is Launch:
                tid = a.task_id
                if first_launch < 0:
                    first_launch = now
                token += 1
                live[tid] = token
                launch_at[tid] = now
                if overhead:
                    push(heap, (now + overhead, _START, tid, token))
                end_at[tid] = now + overhead + durations[tid] - (done.pop(tid, 0.0) if done
                                                                   else 0.0)
                if outputs is not None:
                    end_at[tid] += fetch(tid, a.placement.node)
                push(heap, (end_at[tid], _EXIT, tid, token))
                if keep:
                    kept.append(a)
                if on_launch:
                    ins.call("task_launched", a, now)
            elif tp is Resolve:
                if on_resolve:
                    ins.call("task_resolved", a.task_id)
                if on_end:
                    ins.call("task_ended", core.record(a.task_id))
                if on_flush:
                    resolved += 1
                    if resolved % 4096 == 0:     # a trace's rows go out as the run goes
                        ins.call("flush")
            elif tp is Kill:
                left.pop(a.task_id, None)
                arm(a.task_id, _EXIT, now)
            else:
                steer(a, now)

    def fetch(tid: int, node: str) -> float:
        """Seconds task ``tid``, launched on ``node``, spends moving inputs kept elsewhere."""
        assert outputs is not None
        node_of[tid] = node
        seconds = 0.0
        for d in deps[tid]:
            b = outputs[d]
            if b and node_of[d] != node:
                seconds += network.transfer_s(b)
                moved[0] += b
        moved[1] += seconds
        return seconds

    def steer(a: Any, now: float) -> None:
        tp = type(a)
        tid = a.task_id
        if tp is Steered:
            ins.call("steered", a, now)
        elif tp is Pause:
            left[tid] = max(0.0, end_at[tid] - now)
            live[tid] = 0         # its start and exit wait for the resume
        elif tp is Resume:
            end_at[tid] = now + left.pop(tid, 0.0)
            arm(tid, _EXIT, end_at[tid])
        elif tp is Preempt:
            rest = left.pop(tid, None)
            if rest is None:
                rest = max(0.0, end_at[tid] - max(now, launch_at[tid] + overhead))
            done[tid] = max(0.0, durations[tid] - rest)
            arm(tid, _EXIT, now)

    for i, (when, _) in enumerate(steering):
        push(heap, (float(when), _STEER, i, 0))
    n_events = n
    # One burst, built lazily: a million Submitted values never exist at once.
    act(handle_many((Submitted(task_id=i, spec=specs[i], deps=deps[i]) for i in range(n)), 0.0),
        0.0)
    last = 0.0
    now = 0.0
    while heap or (core.unfinished and core.next_deadline() is not None):
        deadline = core.next_deadline()
        if not heap:        # only a deadline is left (the walltime's end)
            assert deadline is not None
            now = max(now, deadline)
            n_events += 1
            act(core.handle(TimerFired(), now), now)
            continue
        t = heap[0][0]
        if deadline is not None and deadline < t:
            now = deadline
            n_events += 1
            act(core.handle(TimerFired(), now), now)
            continue
        now = t
        batch: list[Any] = []
        while heap and heap[0][0] == t:
            _, kind, tid, attempt = pop(heap)
            if kind == _STEER:
                batch.append(steering[tid][1])
                continue
            if live[tid] != attempt:
                continue   # a killed task's natural end, or a start after a kill
            if kind == _START:
                batch.append(Started(tid))
                continue
            live[tid] = 0
            last = t
            ran = t - launch_at[tid] - overhead
            if ran > 0:
                r = specs[tid].resources
                busy[r] = busy.get(r, 0.0) + ran
            if failing and tid in failing:
                batch.append(Exited(tid, _FAILURE))
            else:
                batch.append(Exited(tid, None, outputs[tid]) if outputs is not None
                             else Exited(tid))
        if deadline is not None and deadline <= t:
            batch.append(TimerFired())
        if batch:
            n_events += len(batch)
            act(handle_many(batch, now), now)
    if core.unfinished:
        raise SpecError(f"simulate: {core.unfinished} tasks can never start (a pool's quota "
                        "too small for them and no move to come, or a paused task never "
                        "resumed)")
    first = first_launch + overhead if first_launch >= 0 else 0.0
    records = tuple(core.record(i) for i in range(n)) if keep else ()
    ins.call("flush")
    ins.call("run_ended", last)
    return SimResult(
        makespan=max(0.0, last - first), makespan_from_submit=last, first_start=first,
        last_end=last, core_seconds=math.fsum(r.total_cores * v for r, v in busy.items()),
        gpu_seconds=math.fsum(r.total_gpus * v for r, v in busy.items()), tasks=n,
        events=n_events,
        records=records, launches=tuple(kept),
        carried=tuple(sorted((i, v) for i, v in done.items() if v > 0)),
        moved_bytes=int(moved[0]), transfer_seconds=moved[1],
    )


def simulate(
    platform: Platform,
    tasks: Sequence[SimTask],
    policy: Policy | None = None,
    *,
    overhead: float = 0.0,
    instruments: Sequence[Instrument] = (),
    pools: Mapping[str, Quota] | None = None,
    steering: Sequence[tuple[float, Event]] = (),
    walltime: Walltime | None = None,
) -> SimResult:
    """Run ``tasks`` (all submitted at time 0, in order) to completion on virtual time, with
    optional resource ``pools``, timed ``steering`` events and a ``walltime`` (see
    :func:`run`)."""
    return run(platform, [t.spec for t in tasks], [t.deps for t in tasks],
               [t.duration for t in tasks], policy=policy, overhead=overhead,
               fails=[i for i, t in enumerate(tasks) if t.fails], instruments=instruments,
               pools=pools, steering=steering, walltime=walltime,
               outputs=[t.output_bytes for t in tasks]
               if any(t.output_bytes for t in tasks) else None)
