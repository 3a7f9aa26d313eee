"""AgentSession: the view of a session that an agent's handlers get.

Contract: the session's actions (submit, execute, cancel, and the steering actions the session
has: pause, resume, preempt, set_priority, move), taken in the agent's name — a cancel's reason
names the agent; a steering action is passed ``by=<agent name>`` when it takes it — and the
tasks submitted through it followed by the agents' run. Also how idle capacity is counted
(:func:`free_slots`). Imports the runtime and ``tandem.runtime.agents``; the run only for types.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from tandem.core.states import TaskState
from tandem.errors import SpecError, TandemError
from tandem.runtime.agents import Agent, Free
from tandem.runtime.future import TaskFuture
from tandem.runtime.options import TaskOptions
from tandem.spec.task import TaskSpec

if TYPE_CHECKING:
    from pathlib import Path

    from tandem.runtime.agent_run import _Run
    from tandem.runtime.session import Session
    from tandem.spec.platform import Platform

#: Steering actions an agent may call when the session has them (pause, resume, preempt,
#: priorities, pool moves); each is passed ``by=<agent name>`` when it takes it.
STEERING = ("pause", "resume", "preempt", "set_priority", "move")


def free_slots(session: Session, pool: str | None = None) -> Free:
    """Cores and GPUs idle now, after queued submissions reached the scheduler.

    Integration point: reads the scheduler's pool counters (two integers). Named resource pools
    (``pool=``) need the session's pools; until it has them, asking for one is a
    :class:`SpecError`."""
    _ = session.unfinished       # hands queued submissions to the core: what it places is busy
    if pool is not None:
        raise SpecError(f"on_free(pool={pool!r}): this session has no resource pools")
    p = session._core.pool
    return Free(cores=p.free_cores, gpus=p.free_gpus)



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
        """:meth:`Session.submit`, followed by the run."""
        fut = self._session.submit(fn, *args, kwargs=kwargs, **options)
        self._run.follow(fut, options.get("kind", "task"))
        return fut

    def execute(self, argv: Sequence[str] | str, **options: Any) -> TaskFuture:
        """:meth:`Session.execute`, followed by the run."""
        fut = self._session.execute(argv, **options)
        self._run.follow(fut, options.get("kind", "task"))
        return fut

    def submit_spec(self, spec: TaskSpec, *, after: Iterable[TaskFuture] = ()) -> TaskFuture:
        """:meth:`Session.submit_spec`, followed by the run."""
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

    def cancel(self, future: TaskFuture, reason: str = "cancelled by an agent") -> None:
        """Cancel a task (and its dependents), in the agent's name."""
        cancel = self._session.cancel
        if _takes_by(cancel):
            cancel(future, reason, by=self._agent.agent_name)   # type: ignore[call-arg]
        else:
            cancel(future, f"{reason} (agent {self._agent.agent_name})")

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

    # -- steering actions of the session (when it has them), in the agent's name -----------
    def pause(self, *args: Any, **kwargs: Any) -> Any:
        return self._steer("pause", args, kwargs)

    def resume(self, *args: Any, **kwargs: Any) -> Any:
        return self._steer("resume", args, kwargs)

    def preempt(self, *args: Any, **kwargs: Any) -> Any:
        return self._steer("preempt", args, kwargs)

    def set_priority(self, *args: Any, **kwargs: Any) -> Any:
        return self._steer("set_priority", args, kwargs)

    def move(self, *args: Any, **kwargs: Any) -> Any:
        return self._steer("move", args, kwargs)

    def _steer(self, action: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        method = getattr(self._session, action, None)
        if not callable(method):
            raise TandemError(f"agent {self._agent.agent_name!r} asked the session to {action}, "
                              f"but this session has no {action}()")
        if _takes_by(method):
            kwargs.setdefault("by", self._agent.agent_name)
        return method(*args, **kwargs)

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


_BY: dict[Any, bool] = {}


def _takes_by(method: Callable[..., Any]) -> bool:
    key = getattr(method, "__func__", method)
    hit = _BY.get(key)
    if hit is None:
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):
            params = {}   # type: ignore[assignment]
        hit = _BY[key] = "by" in params
    return hit
