"""TaskFuture: the handle ``submit`` returns at once.

Contract: lives on the event-loop thread; holds the task's outcome once its owner (the
driver, through the small :class:`Owner` protocol) resolves it. Awaiting creates a loop future
only for the awaiting coroutine, so an outcome nobody looks at produces no "exception never
retrieved" noise, and resolving 20,000 tasks costs 20,000 attribute writes, not 20,000 loop
callbacks. When a resolved future is no longer reachable, its finalizer tells the owner
(``dropped``), which may then forget the task: nothing can name it again.
A result kept by reference on its node (:mod:`tandem.runtime.kept`) is held as its
:class:`~tandem.data.refs.DataRef`: ``result()`` maps it on first use (no copy of its arrays),
and dependents receive the reference (:meth:`TaskFuture.passed`), never the value.
Imports: tandem.core.record, tandem.core.states, tandem.data.refs, tandem.errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from tandem.core.states import FINAL, PENDING, TaskState
from tandem.data.refs import DataRef
from tandem.errors import TandemError

if TYPE_CHECKING:
    from tandem.core.record import TaskRecord


class Owner(Protocol):
    """What a future asks of the driver that made it."""

    def state_of(self, task_id: int) -> TaskState: ...

    def record_of(self, task_id: int) -> TaskRecord: ...

    def cancel_task(self, task_id: int, reason: str, by: str) -> None: ...

    def dropped(self, task_id: int) -> None: ...


class TaskFuture:
    """A submitted task. Await it for its result; pass it as an argument to make a dependency.

    ``result()`` and ``exception()`` raise :class:`asyncio.InvalidStateError` while the task
    has not ended; awaiting waits for it. A task restored from the journal of an earlier run is
    done as soon as it is submitted.
    """

    __slots__ = ("__weakref__", "_callbacks", "_error", "_owner", "_state", "_value", "_waiters",
                 "digest", "key", "name", "task_id")

    def __init__(self, owner: Owner, task_id: int, name: str) -> None:
        self._owner = owner
        self.task_id = task_id
        self.name = name
        self._state = PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._callbacks: list[Callable[[TaskFuture], None]] | None = None
        #: The task's key and digest in the run directory's journal (``None`` without one;
        #: see :mod:`tandem.journal.keys`).
        self.key: str | None = None
        self.digest: str | None = None

    # -- inspection ------------------------------------------------------------------------
    @property
    def state(self) -> TaskState:
        """The task's current state (pending, ready, launched, running, or a final one)."""
        if self._state in FINAL:
            return self._state
        return self._owner.state_of(self.task_id)

    @property
    def record(self) -> TaskRecord:
        """Timestamps, placement, attempts and failure of the task so far."""
        return self._owner.record_of(self.task_id)

    @property
    def owner(self) -> Owner:
        """The driver of the session that made it (sessions check it is theirs)."""
        return self._owner

    def done(self) -> bool:
        return self._state in FINAL

    def result(self) -> Any:
        if self._state not in FINAL:
            raise asyncio.InvalidStateError(f"task {self.name!r} has not ended yet")
        if self._error is not None:
            raise self._error
        value = self._value
        if type(value) is DataRef:
            return value.value()
        return value

    def passed(self) -> Any:
        """What a task that depends on this one receives: the result, or its
        :class:`~tandem.data.refs.DataRef` when it was kept by reference (the task maps it)."""
        if self._state not in FINAL:
            raise asyncio.InvalidStateError(f"task {self.name!r} has not ended yet")
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def ref(self) -> DataRef | None:
        """Where the result lives when it was kept by reference (``None``: not kept, or the
        task has not ended)."""
        value = self._value
        return value if type(value) is DataRef else None

    def exception(self) -> BaseException | None:
        if self._state not in FINAL:
            raise asyncio.InvalidStateError(f"task {self.name!r} has not ended yet")
        return self._error

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Ask to cancel the task (and, through it, its dependents). Returns ``False`` if it had
        already ended. A running task's process tree is ended; the future resolves once it is
        gone."""
        if self._state in FINAL:
            return False
        self._owner.cancel_task(self.task_id, reason, "user")
        return True

    def add_done_callback(self, fn: Callable[[TaskFuture], None]) -> None:
        """Call ``fn(self)`` on the loop thread once the task has ended."""
        if self._state in FINAL:
            fn(self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(fn)

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state not in FINAL:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            yield from waiter.__await__()
        return self.result()

    def __repr__(self) -> str:
        return f"<TaskFuture {self.task_id} {self.name!r} {self.state.value}>"

    # -- called by the owner ---------------------------------------------------------------
    def __del__(self) -> None:
        # The finalizer: a resolved task nothing can name any more may be forgotten.
        try:
            if self._state in FINAL:
                self._owner.dropped(self.task_id)
        except Exception:   # interpreter shutdown: nothing is left to forget for
            pass

    def resolve(self, state: TaskState, value: Any, error: TandemError | None) -> None:
        """Set the outcome (the owner calls it once, when the core resolved the task)."""
        self._state = state
        self._value = value
        self._error = error
        if self._waiters is not None:
            for w in self._waiters:
                if not w.done():
                    w.set_result(None)
            self._waiters = None
        if self._callbacks is not None:
            callbacks, self._callbacks = self._callbacks, None
            for fn in callbacks:
                fn(self)
