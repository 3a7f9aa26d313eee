"""Agents: steering code as a class of coroutine methods, each decorated with what it reacts to.

Contract: declarations only — the :class:`Agent` base class, the four decorators and the
:class:`Free` value. Running agents is :func:`tandem.runtime.agent_run.run_agents`, which
tells an agent of its run through :meth:`Agent.join_run` / :meth:`Agent.leave_run`.
Imports: tandem.errors, tandem.spec.checks.

::

    class Thinker(tandem.Agent):
        @tandem.on_start
        async def seed(self, s): ...                     # once, when the agents start
        @tandem.on_result(kind="simulation")
        async def steer(self, s, fut): ...               # each ended task of that kind
        @tandem.on_free(cores=1)
        async def fill(self, s, free): ...               # at least 1 core idle
        @tandem.on_event("retrain")
        async def retrain(self, s, payload): ...         # agent.emit("retrain", payload)

Rules:

- a handler is an ``async def`` method; ``s`` is the agent's
  :class:`~tandem.runtime.agent_session.AgentSession` (the session's actions, in the agent's name);
- one method may carry several decorators; a subclass that redefines a method replaces its
  triggers (a redefinition without a decorator removes the handler);
- handlers of one agent run one at a time, in the order their events happened; for one event,
  in the order the methods are defined in the class. Different agents run concurrently.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, overload

from tandem.errors import SpecError, TandemError
from tandem.spec.checks import is_int


class Member(Protocol):
    """An agent's place in a run, as the agent sees it."""

    @property
    def stopped(self) -> bool: ...

    def stop(self) -> None: ...

    def emit(self, event: str, payload: Any) -> None: ...

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__tandem_triggers__"


@dataclass(frozen=True, slots=True)
class Free:
    """Idle capacity when an ``on_free`` handler fires: cores and GPUs that no task holds and
    no submitted task was given (``pool`` is the resource pool asked about, ``None`` for the
    whole platform)."""

    cores: int
    gpus: int
    pool: str | None = None


class On(StrEnum):
    """What kind of moment fires a handler (its ``on_*`` decorator); equal to its name as a
    string (``On.START == "start"``)."""

    START = "start"
    """The run began (``on_start``)."""
    RESULT = "result"
    """A task of the agent's session ended (``on_result``)."""
    FREE = "free"
    """Cores or GPUs are idle (``on_free``)."""
    EVENT = "event"
    """Another agent or the user emitted a named event (``on_event``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """What one handler fires on: ``on``; ``kinds`` (results; ``None`` = any kind),
    ``pool``/``cores``/``gpus`` (free capacity) and ``event`` (a name) narrow it."""

    on: On
    kinds: frozenset[str] | None = None
    pool: str | None = None
    cores: int = 0
    gpus: int = 0
    event: str = ""


def _mark(fn: F, trigger: Trigger) -> F:
    if not inspect.iscoroutinefunction(fn):
        name = getattr(fn, "__qualname__", repr(fn))
        raise SpecError(f"agent handler {name}: must be an `async def` method "
                        f"(decorated with on_{trigger.on.value})")
    setattr(fn, _ATTR, (*getattr(fn, _ATTR, ()), trigger))
    return fn


def on_start(fn: F) -> F:
    """Run ``fn(self, s)`` once when the agents start (before any other event)."""
    return _mark(fn, Trigger(on=On.START))


@overload
def on_result(kind: F) -> F: ...
@overload
def on_result(kind: str | Iterable[str] | None = None) -> Callable[[F], F]: ...
def on_result(kind: Any = None) -> Any:
    """Run ``fn(self, s, future)`` for each task of ``kind`` (a name, several, or ``None`` for
    any) that ends — done, failed or cancelled — among the tasks the run's agents submitted or
    watch (see :func:`~tandem.runtime.agent_run.run_agents`)."""
    if callable(kind):
        return _mark(kind, Trigger(on=On.RESULT))
    if kind is None:
        kinds = None
    elif isinstance(kind, str):
        kinds = frozenset((kind,))
    else:
        kinds = frozenset(kind)
        if not all(isinstance(k, str) for k in kinds):
            raise SpecError(f"on_result: kind must be a string or strings, got {kind!r}")

    def deco(fn: F) -> F:
        return _mark(fn, Trigger(on=On.RESULT, kinds=kinds))
    return deco


@overload
def on_free(pool: F) -> F: ...
@overload
def on_free(pool: str | None = None, *, cores: int = 1, gpus: int = 0) -> Callable[[F], F]: ...
def on_free(pool: Any = None, *, cores: int = 1, gpus: int = 0) -> Any:
    """Run ``fn(self, s, free)`` when at least ``cores`` cores and ``gpus`` GPUs (of ``pool``,
    or of the whole platform) are idle: checked when the agents start and after each
    scheduling step in which a task ended or a steering action took effect (a quota move, a
    pause that released cores), once per step, when the handler's turn comes (so what earlier
    handlers submitted is already counted). ``free`` is a :class:`Free`."""
    if callable(pool):
        return _mark(pool, Trigger(on=On.FREE, cores=1))
    for key, v in (("cores", cores), ("gpus", gpus)):
        if not is_int(v) or v < 0:
            raise SpecError(f"on_free: {key} must be an integer >= 0, got {v!r}")
    if cores == 0 and gpus == 0:
        raise SpecError("on_free: ask for at least one core or one GPU")
    if pool is not None and not isinstance(pool, str):
        raise SpecError(f"on_free: pool must be a pool's name, got {pool!r}")

    def deco(fn: F) -> F:
        return _mark(fn, Trigger(on=On.FREE, pool=pool, cores=cores, gpus=gpus))
    return deco


def on_event(name: str) -> Callable[[F], F]:
    """Run ``fn(self, s, payload)`` for each ``emit(name, payload)`` by an agent of the run
    (:meth:`Agent.emit`, :meth:`AgentSession.emit`) or by other code holding one of them."""
    if callable(name) or not isinstance(name, str) or not name:
        raise SpecError(f"on_event: give the event's name, e.g. @on_event('retrain'), "
                        f"got {name!r}")

    def deco(fn: F) -> F:
        return _mark(fn, Trigger(on=On.EVENT, event=name))
    return deco


class Agent:
    """Base class of agents. Subclass it, decorate ``async def`` methods with
    :func:`on_start`, :func:`on_result`, :func:`on_free` and :func:`on_event`, and run
    instances with :func:`~tandem.runtime.agent_run.run_agents`. ``name`` (default: the class
    name) labels the agent's steering actions. No ``__init__`` call is required of
    subclasses."""

    name: str = ""
    #: (method name, trigger) in class definition order, base classes first.
    handlers: ClassVar[tuple[tuple[str, Trigger], ...]] = ()
    _tandem_member: Member | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, tuple[Trigger, ...]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                found.pop(attr, None)             # a redefinition replaces the triggers
                triggers = getattr(value, _ATTR, ())
                if triggers:
                    found[attr] = triggers
        cls.handlers = tuple((attr, t) for attr, ts in found.items() for t in ts)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.agent_name!r}>"

    @property
    def agent_name(self) -> str:
        """The name this agent's actions carry (``name``, else the class name)."""
        return self.name or type(self).__name__

    @property
    def running(self) -> bool:
        """Whether the agent is part of a run and has not stopped."""
        m = self._tandem_member
        return m is not None and not m.stopped

    def emit(self, event: str, payload: Any = None) -> None:
        """Deliver ``payload`` to every ``on_event(event)`` handler of the agents of this
        agent's run (this one included), after the events already queued for each."""
        self._member("emit").emit(event, payload)

    def stop(self) -> None:
        """Stop this agent: the handler running now finishes, the events queued for it are
        dropped, no new ones are delivered. The run ends when every agent has stopped (or,
        with ``stop_when_idle``, when all are idle and no task is left)."""
        m = self._tandem_member
        if m is not None:
            m.stop()

    def state(self) -> Any:
        """What this agent must remember across runs of a campaign (override, with
        :meth:`restore`). Called at the end of each of its handlers in a session with a
        journal; what it returns (picklable) is stored there under the agent's name, and a
        resumed session hands the last one to :meth:`restore` before the agent starts.
        ``None`` (the default) stores nothing."""
        return None

    def restore(self, state: Any) -> None:
        """Take back what :meth:`state` returned in an earlier run (called, in a resumed
        session, before the agent's ``on_start`` handlers)."""

    @property
    def durable(self) -> bool:
        """Whether the agent keeps state across runs (it overrides :meth:`state`)."""
        return type(self).state is not Agent.state

    def join_run(self, member: Member) -> None:
        """Called by ``run_agents`` as the agent joins a run (an agent runs in one at most)."""
        if self._tandem_member is not None:
            raise SpecError(f"run_agents: agent {self.agent_name!r} is already running")
        self._tandem_member = member

    def leave_run(self) -> None:
        """Called by ``run_agents`` as the run ends."""
        self._tandem_member = None

    @property
    def in_run(self) -> bool:
        """Whether the agent is part of a run (stopped or not)."""
        return self._tandem_member is not None

    def _member(self, what: str) -> Member:
        m = self._tandem_member
        if m is None:
            raise TandemError(f"agent {self.agent_name!r}: {what} needs the agent to be running "
                              "(inside tandem.run_agents)")
        return m
