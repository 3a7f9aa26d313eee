"""Running agents: each agent's events in one queue, drained by one coroutine that lives in the
session's task group.

Contract: :func:`run_agents`. Event-driven throughout: results arrive by future
done-callbacks, the end of any task by an instrument hook on the session, emitted events by a
direct push; a queue wakes its coroutine through an :class:`asyncio.Event`; nothing sleeps and
scans.
Imports: tandem.core.actions, tandem.core.record, tandem.errors, tandem.runtime.agent_session,
tandem.runtime.agents, tandem.runtime.future, tandem.runtime.session, tandem.trace.instrument.

Rules:

- an agent's handlers run one at a time, in the order their events happened (the order in which
  tasks ended, events were emitted, capacity was freed); different agents run concurrently;
- an ``on_free`` check is queued once per scheduling step in which a task ended or a steering
  action took effect (and once at the start); free capacity is counted when the check's turn
  comes, after the submissions of earlier handlers reached the scheduler, so a handler never
  sees slots already given away;
- an exception in a handler stops every agent of the run and leaves :func:`run_agents` as
  itself, with a note naming the agent and the handler; raised inside ``open_session``, it
  cancels the session's unfinished tasks like any error there;
- an agent that keeps state (:meth:`Agent.state`) has it stored in the session's journal after
  each of its handlers, and restored (:meth:`Agent.restore`) before it starts in a resumed
  session; restored tasks' results reach ``on_result`` handlers like any others;
- the run ends when every agent has stopped (:meth:`Agent.stop`) or, with ``stop_when_idle``
  (default), when no agent has anything to do and the session has no unfinished task.
"""

from __future__ import annotations

import asyncio
import pickle
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from tandem.core.actions import Steered
from tandem.core.record import TaskRecord
from tandem.errors import SpecError
from tandem.runtime.agent_session import AgentSession, free_slots
from tandem.runtime.agents import Agent, On, Trigger
from tandem.runtime.future import TaskFuture
from tandem.trace.instrument import Instrument

if TYPE_CHECKING:
    from tandem.runtime.session import Session


class _Hooks(Instrument):
    """Tells the run that capacity may have been freed: a task of the session ended, or a
    steering action took effect (a pool's quota moved, a task released its cores)."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def task_ended(self, record: TaskRecord) -> None:
        self._run.task_ended()

    def steered(self, action: Steered, now: float) -> None:
        self._run.task_ended()


# -- one agent in a run ------------------------------------------------------------------
_Item = tuple[str, tuple[Any, ...], Trigger]


class _Member:
    __slots__ = ("agent", "busy", "ctx", "events", "free", "free_queued", "queue", "results",
                 "run", "stopped", "task", "wake")

    def __init__(self, run: _Run, agent: Agent) -> None:
        self.run = run
        self.agent = agent
        self.ctx = AgentSession(run, agent)
        self.queue: deque[_Item] = deque()
        self.wake = asyncio.Event()
        self.busy = False
        self.stopped = False
        self.task: asyncio.Task[None] | None = None
        self.results: list[tuple[str, Trigger]] = []
        self.free: list[tuple[str, Trigger]] = []
        self.events: dict[str, list[tuple[str, Trigger]]] = {}
        self.free_queued: set[int] = set()
        for attr, t in type(agent).handlers:
            if t.on is On.RESULT:
                self.results.append((attr, t))
            elif t.on is On.FREE:
                self.free.append((attr, t))
            elif t.on is On.EVENT:
                self.events.setdefault(t.event, []).append((attr, t))

    def emit(self, event: str, payload: Any) -> None:
        self.run.emit(event, payload)

    def push(self, item: _Item) -> None:
        if not self.stopped:
            self.queue.append(item)
            self.wake.set()

    def queue_free_checks(self) -> None:
        for i, (attr, t) in enumerate(self.free):
            if i not in self.free_queued and not self.stopped:
                self.free_queued.add(i)
                self.push((attr, (i,), t))

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.queue.clear()
            self.wake.set()
            self.run.member_stopped()

    async def loop(self) -> None:
        queue, agent, ctx = self.queue, self.agent, self.ctx
        try:
            while not self.stopped:
                if not queue:
                    self.busy = False
                    self.run.check_idle()
                    if self.stopped or queue:
                        continue
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                self.busy = True
                attr, args, trigger = queue.popleft()
                try:
                    if trigger.on is On.FREE:
                        self.free_queued.discard(args[0])
                        free = free_slots(self.run.session, trigger.pool)
                        if free.cores < trigger.cores or free.gpus < trigger.gpus:
                            continue
                        args = (free,)
                    await getattr(agent, attr)(ctx, *args)
                    if agent.durable:
                        self.run.save(agent)
                except Exception as e:
                    e.add_note(f"(raised by agent {agent.agent_name!r} in its "
                               f"on_{trigger.on.value} handler {type(agent).__name__}.{attr})")
                    self.run.fail(e)
                    return
        finally:
            self.busy = False


# -- the run ---------------------------------------------------------------------------------
class _Run:
    def __init__(self, session: Session, agents: Sequence[Agent], stop_when_idle: bool) -> None:
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.stop_when_idle = stop_when_idle
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.error: BaseException | None = None
        self.step_pending = False
        self.futures: dict[int, TaskFuture] = {}   # followed, not ended, by task id
        self.kinds: dict[int, str] = {}
        self.members = [_Member(self, a) for a in agents]

    def follow(self, fut: TaskFuture, kind: str | None) -> None:
        if not self.session.owns(fut):
            raise SpecError(f"agents: {fut!r} belongs to another session")
        if fut.task_id in self.futures:
            return
        if kind is None:
            kind = fut.record.kind
        if not fut.done():
            self.futures[fut.task_id] = fut
        self.kinds[fut.task_id] = kind
        fut.add_done_callback(self._ended)

    def outstanding(self, kind: str | None) -> list[TaskFuture]:
        return [f for tid, f in self.futures.items() if kind is None or self.kinds[tid] == kind]

    def _ended(self, fut: TaskFuture) -> None:
        tid = fut.task_id
        self.futures.pop(tid, None)
        kind = self.kinds.pop(tid, "task")
        for m in self.members:
            if m.stopped:
                continue
            for attr, t in m.results:
                if t.kinds is None or kind in t.kinds:
                    m.push((attr, (fut,), t))

    def task_ended(self) -> None:
        if not self.step_pending and not self.done.done():
            self.step_pending = True
            self.loop.call_soon(self._after_step)

    def _after_step(self) -> None:
        self.step_pending = False
        if self.done.done():
            return
        for m in self.members:
            m.queue_free_checks()
        self.check_idle()

    def save(self, agent: Agent) -> None:
        """Store ``agent``'s state in the session's journal (if it keeps one)."""
        durable = self.session.driver.durable
        if durable is None:
            return
        state = agent.state()
        if state is None:
            return
        try:
            blob = cloudpickle.dumps(state, 5)
        except Exception as e:
            raise SpecError(f"agent {agent.agent_name!r}: its state() cannot be pickled "
                            f"({type(e).__name__}: {e})") from None
        durable.save_agent(agent.agent_name, blob)

    def restore(self) -> None:
        """Hand each durable agent the state an earlier run stored for it."""
        durable = self.session.driver.durable
        if durable is None:
            return
        names = [m.agent.agent_name for m in self.members if m.agent.durable]
        if len(set(names)) != len(names):
            raise SpecError("run_agents: agents that keep state need names of their own "
                            f"(set Agent.name): {sorted(names)}")
        saved = durable.agent_states()
        for m in self.members:
            blob = saved.get(m.agent.agent_name) if m.agent.durable else None
            if blob is not None:
                m.agent.restore(pickle.loads(blob))

    def emit(self, event: str, payload: Any) -> None:
        if not isinstance(event, str):
            raise SpecError(f"emit: an event's name is a string, got {event!r}")
        for m in self.members:
            for attr, t in m.events.get(event, ()):
                m.push((attr, (payload,), t))

    def check_idle(self) -> None:
        if not self.stop_when_idle or self.done.done():
            return
        # First: handing queued submissions to the core may end tasks at once.
        if self.session.unfinished or self.step_pending:
            return
        for m in self.members:
            if not m.stopped and (m.busy or m.queue):
                return
        self.finish()

    def member_stopped(self) -> None:
        if all(m.stopped for m in self.members):
            self.finish()

    def fail(self, error: BaseException) -> None:
        if self.error is None and not self.done.done():
            self.error = error
        self.finish()

    def finish(self) -> None:
        for m in self.members:
            m.stopped = True
            m.queue.clear()
            m.wake.set()
        if not self.done.done():
            self.done.set_result(None)


async def run_agents(session: Session | AgentSession, *agents: Agent,
                     watch: Iterable[TaskFuture] = (), stop_when_idle: bool = True) -> None:
    """Run ``agents`` on ``session`` until they stop; see the module docstring.

    Each agent's ``on_start`` handlers run first, then its other handlers as their events come.
    ``watch``: tasks submitted before (or by plain code) whose ends the agents' ``on_result``
    handlers should see too. Leaving (normally, on an agent's error, or cancelled) ends every
    agent coroutine of the run; tasks the agents submitted keep running unless an agent
    cancelled them (the session waits for them when its block ends).
    """
    if isinstance(session, AgentSession):
        session = session.session
    if not agents:
        raise SpecError("run_agents: give at least one agent")
    for a in agents:
        if not isinstance(a, Agent):
            raise SpecError(f"run_agents: {a!r} is not a tandem.Agent")
        if a.in_run:
            raise SpecError(f"run_agents: agent {a.agent_name!r} is already running")
    if len({id(a) for a in agents}) != len(agents):
        raise SpecError("run_agents: the same agent is given twice")
    run = _Run(session, agents, stop_when_idle)
    detach = session.add_instrument(_Hooks(run))
    try:
        run.restore()
        for f in watch:
            run.follow(f, None)
        for m in run.members:
            m.agent.join_run(m)
            for attr, t in type(m.agent).handlers:
                if t.on is On.START:
                    m.push((attr, (), t))
            m.queue_free_checks()
        for m in run.members:
            m.task = session.spawn(m.loop(), name=f"tandem agent {m.agent.agent_name}")
        await run.done
        tasks = [m.task for m in run.members if m.task is not None]
        if run.error is not None:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if run.error is not None:
            raise run.error
    finally:
        detach()
        for m in run.members:
            m.stopped = True
            if m.task is not None and not m.task.done():
                m.task.cancel()
            m.agent.leave_run()
