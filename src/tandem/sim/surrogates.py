"""Predicting a workflow whose task sets a surrogate may answer: the workflow driven on virtual
time, its surrogate-backed sets called through modelled surrogates.

Contract: :func:`run_seed_modelled` is :func:`tandem.sim.predict.run_seed` for a workflow with
at least one set carrying a :class:`~tandem.spec.workflow.SurrogatePlan`. A static graph cannot
say which calls a surrogate answers (that depends on when a model first serves), so the run is
a session on tandem's virtual time (:func:`tandem.sim.open_simulated_session`, the runtime's
scheduler) in which:

- each set starts when the sets it depends on have ended (in barrier mode: when every set of a
  lower level has), and its tasks are submitted then, with the durations the seed draws;
- a surrogate-backed set's ``count`` calls run as ``chains`` chains, one call after another
  within a chain, through a :class:`~tandem.surrogate.modelled.ModelledSurrogate` whose costs
  are the plan's (a real call: the set's mean duration, on its cores; inference, retraining,
  audits as the plan says; every time multiplied by the workflow's ``time_scale``) and whose
  draws are seeded with the seed.

The result is a :class:`~tandem.sim.simulator.SimResult` from the tasks' records (``events``
is 0: a session does not count them; a launch overhead is not modelled), and what each
surrogate did (:class:`~tandem.surrogate.modelled.ModelledCounts`).
Imports: tandem.core.policy, tandem.core.record, tandem.errors, tandem.sim.agents,
tandem.sim.simulator, tandem.sim.virtual, tandem.spec, tandem.surrogate.modelled,
tandem.trace.instrument.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from tandem.core.policy import Policy
from tandem.core.record import TaskRecord
from tandem.errors import SpecError
from tandem.sim.agents import open_simulated_session
from tandem.sim.simulator import SimResult
from tandem.sim.virtual import run_virtual
from tandem.spec.platform import Platform
from tandem.spec.task import Mock
from tandem.spec.workflow import ModeName, TaskSet, Workflow, WorkflowTask
from tandem.surrogate.modelled import ModelledCounts, ModelledSurrogate, SurrogateCosts
from tandem.trace.instrument import Instrument


def has_surrogates(workflow: Workflow) -> bool:
    """Whether a set of ``workflow`` carries a surrogate plan."""
    return any(s.surrogate is not None for s in workflow.task_sets)


def costs_of(s: TaskSet, scale: float, seed: int) -> SurrogateCosts:
    """The modelled surrogate's costs for set ``s`` (times multiplied by ``scale``)."""
    plan = s.surrogate
    if plan is None or s.duration is None:
        raise SpecError(f"task set {s.name!r}: no surrogate plan")
    return SurrogateCosts(
        real=s.duration.mean * scale, hit_rate=plan.hit_rate, inference=plan.inference * scale,
        retrain=plan.retrain * scale, min_pairs=plan.min_pairs, every=plan.every,
        audit_fraction=plan.audit_fraction, cores=s.resources.cores,
        retrain_cores=plan.retrain_cores, priority=s.priority, audit_priority=s.priority - 10,
        seed=seed)


class _Records(Instrument):
    def __init__(self) -> None:
        self.records: list[TaskRecord] = []

    def task_ended(self, record: TaskRecord) -> None:
        self.records.append(record)


def run_seed_modelled(workflow: Workflow, seed: int, *, mode: ModeName, policy: Policy,
                      platform: Platform | None = None,
                      instruments: Sequence[Instrument] = (), keep: bool = True,
                      ) -> tuple[SimResult, dict[str, ModelledCounts]]:
    """One virtual run of ``workflow`` with ``seed`` (see the module docstring)."""
    plat = platform or workflow.platform
    scale = workflow.time_scale
    order = workflow.topological(mode)
    level: dict[str, int] = {}
    for s in order:
        level[s.name] = 1 + max((level[d] for d in s.deps(mode)), default=0)
    tasks: dict[str, list[WorkflowTask]] = {}
    for t in workflow.expand(mode=mode, seed=seed):
        tasks.setdefault(t.task_set, []).append(t)
    counts: dict[str, ModelledCounts] = {}
    surrogates: dict[str, ModelledSurrogate] = {}
    seen = _Records()
    opened: list[float] = []          # the virtual time the session opened at

    async def main() -> None:
        async with open_simulated_session(plat, policy=policy, pools=workflow.pools or None,
                                          seed=seed, instruments=[seen, *instruments]) as ses:
            ended = {s.name: asyncio.Event() for s in order}
            opened.append(asyncio.get_running_loop().time())

            async def run_set(s: TaskSet) -> None:
                waits = ([o.name for o in order if level[o.name] < level[s.name]]
                         if mode == "barrier" else list(s.deps(mode)))
                for name in waits:
                    await ended[name].wait()
                if s.surrogate is None:
                    futures = [ses.submit_spec(dataclasses.replace(
                        t.spec, work=Mock(seconds=t.duration or 0.0))) for t in tasks[s.name]]
                    await asyncio.gather(*futures, return_exceptions=True)
                else:
                    ms = ModelledSurrogate(ses, costs_of(s, scale, seed), name=s.name)
                    chains = s.surrogate.chains
                    sizes = [s.count // chains + (1 if i < s.count % chains else 0)
                             for i in range(chains)]

                    async def chain(n: int) -> None:
                        for _ in range(n):
                            await ms()
                    surrogates[s.name] = ms
                    await asyncio.gather(*(chain(n) for n in sizes))
                ended[s.name].set()

            await asyncio.gather(*(run_set(s) for s in order))
        # The session has closed: every audit and retraining has ended.
        counts.update({name: ms.counts for name, ms in surrogates.items()})

    run_virtual(main())
    records = seen.records
    started = [r.started for r in records if r.started is not None]
    ends = [r.ended for r in records if r.ended is not None and r.started is not None]
    t0 = opened[0] if opened else 0.0
    first = min(started, default=t0) - t0
    last = max(ends, default=t0) - t0
    busy = [(r.resources, r.ended - r.started) for r in records
            if r.started is not None and r.ended is not None]
    result = SimResult(
        makespan=max(0.0, last - first), makespan_from_submit=last, first_start=first,
        last_end=last, core_seconds=sum(q.total_cores * d for q, d in busy),
        gpu_seconds=sum(q.total_gpus * d for q, d in busy), tasks=len(records), events=0,
        records=tuple(sorted((_shifted(r, t0) for r in records), key=lambda r: r.task_id))
        if keep else ())
    return result, counts


def _shifted(r: TaskRecord, t0: float) -> TaskRecord:
    """``r`` with its times counted from ``t0`` (the session's opening: time 0, as the static
    simulator's records are)."""
    def at(t: float | None) -> float | None:
        return None if t is None else t - t0
    return r._replace(submitted=r.submitted - t0, ready=at(r.ready), launched=at(r.launched),
                      started=at(r.started), ended=at(r.ended))
