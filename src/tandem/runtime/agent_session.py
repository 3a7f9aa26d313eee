"""AgentSession: the view of a session that an agent's handlers get.

Contract: the session's actions (submit, execute, and the steering actions: cancel, pause,
resume, preempt, set_priority, move), taken in the agent's name — every steering action is
passed ``by=<agent name>``, which the trace records — and the tasks submitted through it, in
the agent's name too (``TaskSpec.by``), followed by the agents' run. Also how idle capacity is
counted (:func:`free_slots`). Imports the runtime and ``tandem.runtime.agents``; the run only
for types.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from tandem.core.pools import PoolUsage
from tandem.core.states import TaskState
from tandem.errors import SpecError
from tandem.runtime.agents import Agent, Free
from tandem.runtime.future import TaskFuture
from tandem.runtime.options import TaskOptions
from tandem.spec.task import TaskSpec

if TYPE_CHECKING:
    from pathlib import Path

    from tandem.runtime.agent_run import _Run
    from tandem.runtime.session import Session
    from tandem.spec.platform import Platform

def free_slots(session: Session, pool: str | None = None) -> Free:
    """Cores and GPUs idle now (of ``pool``'s quota, or of the whole platform), after queued
    submissions reached the scheduler: what it placed is not idle. A pool's are what its
    quota still admits (``Session.pools()``), at most what is idle on the platform (a pool may
    hold more than its quota just after a move)."""
    cores, gpus = session.idle()
    if pool is None:
        return Free(cores=cores, gpus=gpus)
    usage = session.pools()
    if not usage:
        raise SpecError(f"on_free(pool={pool!r}): this session has no resource pools "
                        "(open it with pools=...)")
    u = usage.get(pool)
    if u is None:
        raise SpecError(f"on_free(pool={pool!r}): no such pool (pools: {', '.join(usage)})")
    return Free(cores=min(u.free_cores, cores), gpus=min(u.free_gpus, gpus),
                pool=pool)


class AgentSession:
    """The session's actions, taken in an agent's name. Tasks submitted here are followed by
    the run: their ends reach the agents' ``on_result`` handlers."""

    __slots__ = ("_agent", "_run", "_session")

    def __init__(self, run: _Run, agent: Agent) -> None:
        self._run = run
        self._session = run.session
        self._agent = agent

    def __repr__(self) -> str:
        return f"<AgentSession of {self._agent.agent_name!r}>"

    @property
    def session(self) -> Session:
        """The session itself (its actions taken there are not labelled with the agent)."""
        return self._session

    @property
    def agent(self) -> Agent:
        return self._agent

    @property
    def platform(self) -> Platform:
        return self._session.platform

    @property
    def run_dir(self) -> Path:
        return self._session.run_dir

    def time(self) -> float:
        """The session's clock now (the event loop's: virtual time under the simulator)."""
        return self._run.loop.time()

    # -- tasks ---------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any,
               kwargs: Mapping[str, Any] | None = None,
               **options: Unpack[TaskOptions]) -> TaskFuture:
        """:meth:`Session.submit` in the agent's name (``by``), followed by the run."""
        options.setdefault("by", self._agent.agent_name)
        fut = self._session.submit(fn, *args, kwargs=kwargs, **options)
        self._run.follow(fut, options.get("kind", "task"))
        return fut

    def execute(self, argv: Sequence[str] | str, **options: Any) -> TaskFuture:
        """:meth:`Session.execute` in the agent's name (``by``), followed by the run."""
        options.setdefault("by", self._agent.agent_name)
        fut = self._session.execute(argv, **options)
        self._run.follow(fut, options.get("kind", "task"))
        return fut

    def submit_spec(self, spec: TaskSpec, *, after: Iterable[TaskFuture] = ()) -> TaskFuture:
        """:meth:`Session.submit_spec`, followed by the run; a spec submitted by the default
        ``"user"`` is submitted in the agent's name."""
        if spec.by == "user":
            spec = dataclasses.replace(spec, by=self._agent.agent_name)
        fut = self._session.submit_spec(spec, after=after)
        self._run.follow(fut, spec.kind)
        return fut

    def watch(self, future: TaskFuture) -> TaskFuture:
        """Follow a task submitted elsewhere: its end reaches ``on_result`` handlers."""
        self._run.follow(future, None)
        return future

    def outstanding(self, kind: str | None = None) -> list[TaskFuture]:
        """The run's followed tasks (of ``kind``) that have not ended, oldest first."""
        return [f for tid, f in self._run.futures.items()
                if kind is None or self._run.kinds[tid] == kind]

    def cancel(self, future: TaskFuture | Iterable[TaskFuture],
               reason: str = "cancelled by an agent") -> None:
        """:meth:`Session.cancel` (a task or several, and their dependents), by this agent."""
        self._session.cancel(future, reason, by=self._agent.agent_name)

    def cancel_all(self, kind: str | None = None,
                   reason: str = "cancelled by an agent") -> list[TaskFuture]:
        """Cancel the run's unfinished tasks (of ``kind``); returns them."""
        out = self.outstanding(kind)
        for f in out:
            self.cancel(f, reason)
        return out

    def free(self, pool: str | None = None) -> Free:
        """Idle capacity now (see :func:`free_slots`)."""
        return free_slots(self._session, pool)

    @property
    def unfinished(self) -> int:
        return self._session.unfinished

    def counts(self) -> dict[TaskState, int]:
        return self._session.counts()

    # -- steering, by this agent (options as the session's methods) -------------------------
    def pause(self, future: TaskFuture, **options: Any) -> None:
        """:meth:`Session.pause` (``release=``, ``reason=``)."""
        self._session.pause(future, by=self._agent.agent_name, **options)

    def resume(self, future: TaskFuture, **options: Any) -> None:
        """:meth:`Session.resume` (``reason=``)."""
        self._session.resume(future, by=self._agent.agent_name, **options)

    def preempt(self, future: TaskFuture, **options: Any) -> None:
        """:meth:`Session.preempt` (``grace=``, ``signal=``, ``reason=``)."""
        self._session.preempt(future, by=self._agent.agent_name, **options)

    def set_priority(self, future: TaskFuture, priority: int, **options: Any) -> None:
        """:meth:`Session.set_priority` (``reason=``)."""
        self._session.set_priority(future, priority, by=self._agent.agent_name, **options)

    def move(self, source: str, target: str, **options: Any) -> None:
        """:meth:`Session.move` (``cores=``, ``gpus=``, ``reason=``): quota between pools."""
        self._session.move(source, target, by=self._agent.agent_name, **options)

    def pools(self) -> dict[str, PoolUsage]:
        """:meth:`Session.pools`: each pool's quota and use now."""
        return self._session.pools()

    # -- the run ---------------------------------------------------------------------------
    def emit(self, event: str, payload: Any = None) -> None:
        """As :meth:`Agent.emit`."""
        self._run.emit(event, payload)

    def stop(self) -> None:
        """Stop this agent (as :meth:`Agent.stop`)."""
        self._agent.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any], *,
              name: str | None = None) -> asyncio.Task[Any]:
        """Run a coroutine in the session's task group (work that must not hold up the agent's
        other handlers)."""
        return self._session.spawn(coro, name=name)
