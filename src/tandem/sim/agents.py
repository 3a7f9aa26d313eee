"""Agents and steering code on virtual time: the real Session, the real scheduler core and the
real agent runtime, with modelled task durations and results.

Contract: :func:`open_simulated_session` is ``open_session`` with one backend, the
:class:`~tandem.sim.model_backend.ModelBackend`, on a :class:`~tandem.sim.virtual.
VirtualEventLoop`; :func:`simulate_agents` runs agents on it and returns what happened. Nothing
is re-implemented: submissions, dependencies, placement, priorities, cancellation, futures,
``as_completed`` and agents are the runtime's own code, so an agent (the same class, the same
object) makes here the decisions it makes on real time, given the same durations and results —
only the clock is virtual and the tasks are models. The session reads the loop's clock (it is
given ``clock=loop.time``), so every time it records is a virtual one.
Imports: tandem.core.record, tandem.errors, tandem.runtime.agent_run, tandem.runtime.agents,
tandem.runtime.open, tandem.runtime.session, tandem.sim.model_backend, tandem.sim.virtual,
tandem.spec.platform, tandem.trace.instrument.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.core.record import TaskRecord
from tandem.errors import SpecError
from tandem.runtime.agent_run import run_agents
from tandem.runtime.agents import Agent
from tandem.runtime.open import open_session
from tandem.runtime.session import Session
from tandem.sim.model_backend import Durations, ModelBackend, Results
from tandem.sim.virtual import VirtualEventLoop, run_virtual
from tandem.spec.platform import Platform
from tandem.trace.instrument import Instrument


class _Records(Instrument):
    def __init__(self) -> None:
        self.records: list[TaskRecord] = []

    def task_ended(self, record: TaskRecord) -> None:
        self.records.append(record)


@contextlib.asynccontextmanager
async def open_simulated_session(
    platform: Platform | None = None,
    *,
    durations: Durations = None,
    results: Results = None,
    seed: int = 0,
    run_dir: str | os.PathLike[str] | None = None,
    instruments: Sequence[Instrument] = (),
    **options: Any,
) -> AsyncIterator[Session]:
    """A session on virtual time, inside :func:`~tandem.sim.virtual.run_virtual`.

    ``durations``/``results``/``seed``: the task models (see
    :mod:`tandem.sim.model_backend`). ``run_dir``: where the trace goes (a run directory that
    ``tandem report`` reads); none by default. Other options are ``open_session``'s (``mode``,
    ``order``, ``policy``). Simulated tasks are never added to the task history, and estimates
    are learned from it only when ``history=`` is given."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualEventLoop):
        raise SpecError("open_simulated_session runs on virtual time: start the program with "
                        "tandem.sim.run_virtual(main()) instead of asyncio.run(main())")
    if "backends" in options:
        raise SpecError("open_simulated_session: tasks run on the model backend; give "
                        "durations= and results= instead of backends=")
    backend = ModelBackend(durations, results, seed=seed)
    scratch = None
    if run_dir is None:
        scratch = tempfile.mkdtemp(prefix="tandem-sim-")
        options.setdefault("trace", False)
    try:
        async with open_session(
            platform, run_dir=run_dir if run_dir is not None else scratch, backends=[backend],
            instruments=[backend.instrument, *instruments], clock=loop.time,
            **{"history": False, **options},
        ) as session:
            yield session
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSimulation:
    """What a simulated agent run did. Times are on the run's clock; ``start`` is when the
    agents started (virtual seconds elapsed are differences from it)."""

    start: float
    agents_ended: float
    """When the agents stopped."""
    end: float
    """When the session closed (its last task ended)."""
    records: tuple[TaskRecord, ...]
    """Every task's record, in submission order."""
    wall_seconds: float
    """Real time the simulation took."""

    @property
    def duration(self) -> float:
        """Virtual seconds from the agents' start to the session's close."""
        return self.end - self.start

    def kinds(self) -> dict[str, int]:
        """How many tasks of each kind were submitted."""
        out: dict[str, int] = {}
        for r in self.records:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out


def simulate_agents(
    platform: Platform,
    *agents: Agent,
    durations: Durations = None,
    results: Results = None,
    seed: int = 0,
    run_dir: str | os.PathLike[str] | None = None,
    stop_when_idle: bool = True,
    instruments: Sequence[Instrument] = (),
    **options: Any,
) -> AgentSimulation:
    """Run ``agents`` on a simulated session of ``platform`` until they stop (see
    :func:`open_simulated_session` for the models and options)."""
    records = _Records()

    async def main() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        async with open_simulated_session(
                platform, durations=durations, results=results, seed=seed, run_dir=run_dir,
                instruments=[records, *instruments], **options) as s:
            t0 = loop.time()
            await run_agents(s, *agents, stop_when_idle=stop_when_idle)
            t1 = loop.time()
        return t0, t1, loop.time()

    wall = time.perf_counter()
    t0, t1, t2 = run_virtual(main())
    return AgentSimulation(
        start=t0, agents_ended=t1, end=t2,
        records=tuple(sorted(records.records, key=lambda r: r.task_id)),
        wall_seconds=time.perf_counter() - wall)
