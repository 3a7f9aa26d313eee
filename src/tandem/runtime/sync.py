"""A synchronous entry point for scripts that do not use asyncio.

Contract: runs one event loop with one :class:`Session` in a background thread and forwards
calls to it with ``call_soon_threadsafe``, waiting for each; futures are
:class:`concurrent.futures.Future`, and the steering methods (cancel, pause, resume, preempt,
set_priority, move, pools) take them where the async session takes its own. Imports
``tandem.runtime.session``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal as _signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from tandem.core.pools import PoolUsage
from tandem.core.states import TaskState
from tandem.errors import TandemError
from tandem.runtime.future import TaskFuture
from tandem.runtime.open import open_session
from tandem.runtime.session import Session


class SyncSession:
    """``with SyncSession(platform) as s: fut = s.submit(fn, 1); fut.result()``.

    ``submit``/``execute`` take the same arguments as the async :class:`Session`; futures
    returned here may be passed as arguments (they are dependencies) and are
    ``concurrent.futures.Future`` objects otherwise.
    """

    def __init__(self, platform: Any = None, **options: Any) -> None:
        self._platform = platform
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tandem-session", daemon=True)
        self._ready = threading.Event()
        self._session: Session | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._links: dict[int, TaskFuture] = {}

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with open_session(self._platform, **self._options) as session:
                self._session = session
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:
            self._error = e
        finally:
            self._ready.set()

    def __enter__(self) -> SyncSession:
        self._thread.start()
        self._ready.wait()
        if self._session is None:
            raise TandemError(f"could not open the session: {self._error}") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._session = None
        if self._error is not None and exc[0] is None:
            raise self._error

    def _open(self) -> Session:
        if self._session is None:
            raise TandemError("this SyncSession is not open (use it in a with block)")
        return self._session

    def _on_loop(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` (a session method) on the session's loop with this thread's futures
        swapped for the session's, and return what it returns (or raise what it raises)."""
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def go() -> None:
            try:
                out.set_result(fn(*self._unwrap(args), **self._unwrap_kw(kwargs)))
            except BaseException as e:
                out.set_exception(e)

        self._loop.call_soon_threadsafe(go)
        return out.result()

    def _call(self, method: Callable[..., TaskFuture], *args: Any, **kwargs: Any
              ) -> concurrent.futures.Future[Any]:
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()
        tf: TaskFuture = self._on_loop(method, *args, **kwargs)
        self._links[id(out)] = tf
        out.task_id = tf.task_id  # type: ignore[attr-defined]

        def done(f: TaskFuture) -> None:
            err = f.exception()
            if err is not None:
                out.set_exception(err)
            else:
                out.set_result(f.result())

        self._loop.call_soon_threadsafe(tf.add_done_callback, done)
        return out

    def _unwrap(self, value: Any) -> Any:
        if isinstance(value, concurrent.futures.Future) and id(value) in self._links:
            return self._links[id(value)]
        if isinstance(value, list | tuple):
            return type(value)(self._unwrap(v) for v in value)
        if isinstance(value, dict):
            return {k: self._unwrap(v) for k, v in value.items()}
        return value

    def _unwrap_kw(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: self._unwrap(v) for k, v in kwargs.items()}

    def submit(self, fn: Callable[..., Any], *args: Any, **options: Any
               ) -> concurrent.futures.Future[Any]:
        return self._call(self._open().submit, fn, *args, **options)

    def execute(self, argv: Any, **options: Any) -> concurrent.futures.Future[Any]:
        return self._call(self._open().execute, argv, **options)

    # -- steering: the async Session's methods, for this session's futures ------------------
    def cancel(self, future: Future[Any] | Iterable[Future[Any]],
               reason: str = "cancelled by the user", *, by: str = "user") -> None:
        """:meth:`Session.cancel <tandem.runtime.steering.Steering.cancel>`."""
        self._on_loop(self._open().cancel, future, reason, by=by)

    def pause(self, future: Future[Any], *, release: bool = False, by: str = "user",
              reason: str = "") -> None:
        """:meth:`Session.pause <tandem.runtime.steering.Steering.pause>`."""
        self._on_loop(self._open().pause, future, release=release, by=by, reason=reason)

    def resume(self, future: Future[Any], *, by: str = "user", reason: str = "") -> None:
        """:meth:`Session.resume <tandem.runtime.steering.Steering.resume>`."""
        self._on_loop(self._open().resume, future, by=by, reason=reason)

    def preempt(self, future: Future[Any], *, grace: float = 10.0, signal: int = _signal.SIGTERM,
                by: str = "user", reason: str = "") -> None:
        """:meth:`Session.preempt <tandem.runtime.steering.Steering.preempt>`."""
        self._on_loop(self._open().preempt, future, grace=grace, signal=signal, by=by,
                      reason=reason)

    def set_priority(self, future: Future[Any], priority: int, *, by: str = "user",
                     reason: str = "") -> None:
        """:meth:`Session.set_priority <tandem.runtime.steering.Steering.set_priority>`."""
        self._on_loop(self._open().set_priority, future, priority, by=by, reason=reason)

    def move(self, source: str, target: str, *, cores: int = 0, gpus: int = 0,
             by: str = "user", reason: str = "") -> None:
        """:meth:`Session.move <tandem.runtime.steering.Steering.move>`."""
        self._on_loop(self._open().move, source, target, cores=cores, gpus=gpus, by=by,
                      reason=reason)

    def pools(self) -> dict[str, PoolUsage]:
        """:meth:`Session.pools <tandem.runtime.steering.Steering.pools>`."""
        return dict(self._on_loop(self._open().pools))

    def state(self, future: Future[Any]) -> TaskState:
        """The task's state now (pending, ready, launched, running, paused, ... or final)."""
        session = self._open()

        def state(f: Any) -> TaskState:
            session._own(f)
            return f.state   # type: ignore[no-any-return]

        return TaskState(self._on_loop(state, future))
