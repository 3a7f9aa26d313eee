"""Steering a running session: cancel, pause, resume, preempt, re-prioritise, move pool quota.

Contract: the steering half of :class:`~tandem.runtime.session.Session` (a base class it
inherits): the public methods check their arguments, raising :class:`SpecError` to the caller,
and hand the core an event; the core decides, and its actions are carried out here through the
task's backend (``Pause``, ``Resume``, ``Preempt``) or reported to instruments (``Steered``,
which the trace writes as a ``steer`` record). Imports ``tandem.core``, ``tandem.errors`` and
the runtime's backend interface.

Every method takes ``by`` (who decided: a person, an agent's name) and ``reason``; both are
recorded. A request that does not apply to the task's state now (pausing a task that is not
running, anything on a task that has ended) is ignored and not recorded.
"""

from __future__ import annotations

import math
import signal as _signal
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tandem.core.actions import Pause, Preempt, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    ResumeRequested,
)
from tandem.core.pools import PoolUsage
from tandem.errors import SpecError

if TYPE_CHECKING:
    from tandem.backends.base import Backend
    from tandem.core.scheduler import Scheduler
    from tandem.runtime.future import TaskFuture
    from tandem.spec.task import TaskSpec
    from tandem.trace.instrument import Instrument

_SIGNALS = frozenset(s.value for s in _signal.Signals)


class Steering:
    """Steering methods of a session (see the module docstring)."""

    # What it uses of the session (declared for the type checker).
    if TYPE_CHECKING:
        _core: Scheduler
        _specs: dict[int, TaskSpec]
        _instruments: list[Instrument]

        def _feed(self, event: Any) -> None: ...
        def _observers(self) -> list[Instrument]: ...
        def _flush(self) -> None: ...
        def _backend_for_work(self, spec: TaskSpec) -> Backend: ...

    # -- public ----------------------------------------------------------------------------
    def cancel(self, future: TaskFuture | Iterable[TaskFuture],
               reason: str = "cancelled by the user", *, by: str = "user") -> None:
        """Cancel a task, or several, and everything downstream of them: dependents that have
        not started are cancelled too (transitively), naming the cancelled root; a running
        task's whole process tree is ended. ``reason`` and ``by`` are recorded on each task's
        failure and in the trace."""
        for f in self._futures_of(future):
            self._feed(CancelRequested(f.task_id, reason, by))

    def pause(self, future: TaskFuture, *, release: bool = False, by: str = "user",
              reason: str = "") -> None:
        """Stop a running task's whole process tree (SIGSTOP). ``release=False``: it keeps its
        cores and GPUs. ``release=True``: its cores go to other tasks while it is stopped; it
        keeps its GPU ids, memory and node, and on :meth:`resume` waits for as many cores on
        its node (in the ready queue's order) and is re-pinned to them. Paused time does not
        count towards its timeout."""
        self._steerable(future, "pause")
        self._feed(PauseRequested(task_id=future.task_id, release=bool(release), by=by,
                                  reason=reason))

    def resume(self, future: TaskFuture, *, by: str = "user", reason: str = "") -> None:
        """Continue a paused task (SIGCONT), after it got cores again if it released them."""
        self._steerable(future, "resume")
        self._feed(ResumeRequested(task_id=future.task_id, by=by, reason=reason))

    def preempt(self, future: TaskFuture, *, grace: float = 10.0,
                signal: int = _signal.SIGTERM, by: str = "user", reason: str = "") -> None:
        """Ask a running task to checkpoint and leave: it gets ``signal`` (SIGTERM or SIGUSR1,
        say) and ``grace`` seconds to exit; then its tree is killed. It goes back to the ready
        queue (not a failure, not a retry) and runs again later with ``TANDEM_PREEMPTED`` and
        ``TANDEM_ATTEMPT`` set and the same ``TANDEM_TASK_DIR``, to continue from its
        checkpoint. See docs/steering.md for the protocol."""
        self._steerable(future, "preempt")
        if isinstance(grace, bool) or not isinstance(grace, int | float) \
                or math.isnan(grace) or grace < 0:
            raise SpecError(f"preempt: grace must be a number of seconds >= 0, got {grace!r}")
        if isinstance(signal, bool) or not isinstance(signal, int) or signal not in _SIGNALS:
            raise SpecError(f"preempt: signal must be a signal number, got {signal!r}")
        self._feed(PreemptRequested(task_id=future.task_id, grace=float(grace),
                                    signal=int(signal), by=by, reason=reason))

    def set_priority(self, future: TaskFuture, priority: int, *, by: str = "user",
                     reason: str = "") -> None:
        """Give a task a new priority (higher runs first). A waiting task is re-ordered at once;
        for a running one it matters when it waits again (a retry, a preemption, a resume)."""
        self._own(future)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise SpecError(f"set_priority: priority must be an integer, got {priority!r}")
        self._feed(PriorityChanged(task_id=future.task_id, priority=priority, by=by,
                                   reason=reason))

    def move(self, source: str, target: str, *, cores: int = 0, gpus: int = 0,
             by: str = "user", reason: str = "") -> None:
        """Move ``cores`` and ``gpus`` of quota from pool ``source`` to pool ``target``
        (``"default"`` is the pool of tasks without one). Running tasks are never ended: a pool
        holding more than its new quota admits nothing until enough of its tasks have ended."""
        self._flush()
        quotas = self._core.quotas
        if quotas is None:
            raise SpecError("move: this session has no resource pools (open it with pools=...)")
        quotas.check_move(source, target, cores, gpus)
        self._feed(QuotaMoved(source=source, target=target, cores=cores, gpus=gpus, by=by,
                              reason=reason))

    def pools(self) -> dict[str, PoolUsage]:
        """Each resource pool's quota and what its running tasks hold now (empty without
        pools)."""
        self._flush()
        return self._core.pool_usage()

    # -- carrying out the core's steering actions ------------------------------------------
    def _carry(self, action: Any, now: float) -> None:
        tp = type(action)
        if tp is Steered:
            for ins in self._observers():
                ins.steered(action, now)
            return
        spec = self._specs.get(action.task_id)
        if spec is None:
            return
        backend = self._backend_for_work(spec)
        if tp is Pause:
            backend.pause(action.task_id)
        elif tp is Resume:
            backend.resume(action.task_id, action.placement)
        elif tp is Preempt:
            backend.preempt(action.task_id, action.signal, action.grace)

    # -- checks ----------------------------------------------------------------------------
    def _own(self, future: TaskFuture) -> None:
        from tandem.runtime.future import TaskFuture

        if type(future) is not TaskFuture or future._session is not self:
            raise SpecError(f"{future!r} is not a task of this session")

    def _futures_of(self, future: TaskFuture | Iterable[TaskFuture]) -> list[TaskFuture]:
        from tandem.runtime.future import TaskFuture

        out = [future] if isinstance(future, TaskFuture) else list(future)
        for f in out:
            self._own(f)
        return out

    def _steerable(self, future: TaskFuture, what: str) -> None:
        self._own(future)
        spec = self._specs.get(future.task_id)
        if spec is None:     # ended already: the core ignores the request
            return
        backend = self._backend_for_work(spec)
        if not backend.steerable:
            raise SpecError(f"{what}: task {spec.name!r} runs on the {backend.name} backend, "
                            f"which cannot {what} tasks")
