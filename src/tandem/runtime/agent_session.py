"""AgentSession: the view of a session that an agent's handlers get.

Contract: :class:`AgentSession` is a view of the run's :class:`Session` (the same driver) whose
default ``by`` is the agent's name: its tasks (``TaskSpec.by``) and steering actions (the
trace records who decided) are the agent's, and each task it submits is followed by the
agents' run (its end reaches ``on_result`` handlers). It adds the few agent-only methods
(watch, outstanding, cancel_all, free, emit, stop, agent, session). Also how idle capacity is
counted (:func:`free_slots`).
Imports: tandem.errors, tandem.runtime.agents, tandem.runtime.future, tandem.runtime.session,
tandem.spec.task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tandem.errors import SpecError
from tandem.runtime.agents import Agent, Free
from tandem.runtime.future import TaskFuture
from tandem.runtime.session import Session

if TYPE_CHECKING:
    from tandem.spec.task import TaskSpec


class Followed(Protocol):
    """What an agent's session asks of its run (:mod:`tandem.runtime.agent_run`)."""

    @property
    def session(self) -> Session: ...

    def follow(self, future: TaskFuture, kind: str | None) -> None: ...

    def outstanding(self, kind: str | None) -> list[TaskFuture]: ...

    def emit(self, event: str, payload: Any) -> None: ...


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


class AgentSession(Session):
    """The run's session, in an agent's name (see the module docstring)."""

    cancel_reason = "cancelled by an agent"

    def __init__(self, run: Followed, agent: Agent) -> None:
        super().__init__(run.session.driver, by=agent.agent_name)
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

    def _submitted(self, future: TaskFuture, spec: TaskSpec) -> TaskFuture:
        self._run.follow(future, spec.kind)
        return future

    # -- agent-only ------------------------------------------------------------------------
    def watch(self, future: TaskFuture) -> TaskFuture:
        """Follow a task submitted elsewhere: its end reaches ``on_result`` handlers."""
        self._run.follow(future, None)
        return future

    def outstanding(self, kind: str | None = None) -> list[TaskFuture]:
        """The run's followed tasks (of ``kind``) that have not ended, oldest first."""
        return self._run.outstanding(kind)

    def cancel_all(self, kind: str | None = None,
                   reason: str | None = None) -> list[TaskFuture]:
        """Cancel the run's unfinished tasks (of ``kind``); returns them."""
        out = self.outstanding(kind)
        for f in out:
            self.cancel(f, reason)
        return out

    def free(self, pool: str | None = None) -> Free:
        """Idle capacity now (see :func:`free_slots`)."""
        return free_slots(self, pool)

    def emit(self, event: str, payload: Any = None) -> None:
        """As :meth:`Agent.emit`."""
        self._run.emit(event, payload)

    def stop(self) -> None:
        """Stop this agent (as :meth:`Agent.stop`)."""
        self._agent.stop()
