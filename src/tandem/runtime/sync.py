"""A synchronous entry point for scripts that do not use asyncio.

Contract: runs one event loop with one :class:`Session` in a background thread and forwards
calls to it with ``call_soon_threadsafe``, waiting for each. The forwarded methods are one
list, :data:`FORWARDED` (name -> whether it returns a task future); each forwarder has the
async session's own signature and docstring (``functools.wraps``), so there is no second copy
of them. Futures are :class:`concurrent.futures.Future`; passed back (as arguments, ``after=``
or to a steering method) they stand for their task. The link from such a future to its task's
future is weak: once the script drops a future whose task ended, nothing of it is left here,
and the session may forget the task. ``stream`` gives a :class:`SyncStream`: the session's
stream with blocking ``put``/``get`` and plain iteration.
Imports: tandem.core.states, tandem.data.stream, tandem.errors,
tandem.runtime.future, tandem.runtime.open, tandem.runtime.session, tandem.runtime.stream_state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from tandem.core.states import TaskState
from tandem.data.stream import until_end
from tandem.errors import SpecError, TandemError
from tandem.runtime.future import TaskFuture
from tandem.runtime.open import open_session
from tandem.runtime.session import Session
from tandem.runtime.stream_state import Stream, StreamStats

FORWARDED: dict[str, bool] = {
    "submit": True, "execute": True, "submit_spec": True,
    "cancel": False, "pause": False, "resume": False, "preempt": False,
    "set_priority": False, "move": False, "pools": False, "counts": False, "idle": False,
    "note": False,
}
"""The :class:`Session` methods a :class:`SyncSession` has: name -> returns a task future."""


class SyncSession:
    """``with SyncSession(platform) as s: fut = s.submit(fn, 1); fut.result()``.

    The methods named in :data:`FORWARDED` take the async :class:`Session`'s arguments;
    futures returned here may be passed as arguments (they are dependencies) and are
    ``concurrent.futures.Future`` objects otherwise (with a ``task_id``).
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
        # this thread's future -> the task's; weak: an entry lives as long as the script's
        # future (read and written on the loop thread only).
        self._links: weakref.WeakKeyDictionary[Future[Any], TaskFuture] = \
            weakref.WeakKeyDictionary()

    if TYPE_CHECKING:
        # The forwarders are made from FORWARDED below; for type checkers, any of them.
        def __getattr__(self, name: str) -> Any: ...

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

    def links(self) -> int:
        """How many of this thread's futures are linked to tasks now."""
        return self._on_loop(lambda: len(self._links))  # type: ignore[no-any-return]

    def stream(self, name: str, *, maxsize: int = 64, writers: int | None = None
               ) -> SyncStream:
        """Open stream ``name`` (see :meth:`Session.stream`), for this thread to use too."""
        session = self._open()
        st = self._on_loop(lambda: session.stream(name, maxsize=maxsize, writers=writers))
        return SyncStream(st, self._loop)

    def state(self, future: Future[Any]) -> TaskState:
        """The task's state now (pending, ready, launched, running, paused, ... or final)."""
        session = self._open()

        def state() -> TaskState:
            tf = self._unwrap(future)
            if not session.owns(tf):
                raise SpecError(f"{future!r} is not a task of this session")
            return tf.state   # type: ignore[no-any-return]

        return TaskState(self._on_loop(state))

    # -- forwarding ------------------------------------------------------------------------
    def _open(self) -> Session:
        if self._session is None:
            raise TandemError("this SyncSession is not open (use it in a with block)")
        return self._session

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the session's loop; return what it returns (or raise what it
        raises)."""
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def go() -> None:
            try:
                out.set_result(fn())
            except BaseException as e:
                out.set_exception(e)

        self._loop.call_soon_threadsafe(go)
        return out.result()

    def _forward(self, name: str, returns_future: bool, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        method = getattr(self._open(), name)

        def call() -> Any:
            value = method(*self._unwrap(args), **self._unwrap(kwargs))
            return self._link(value) if returns_future else value

        return self._on_loop(call)

    def _link(self, tf: TaskFuture) -> Future[Any]:
        """(On the loop.) This thread's future for the task of ``tf``."""
        out: Future[Any] = Future()
        out.task_id = tf.task_id  # type: ignore[attr-defined]
        self._links[out] = tf
        ref = weakref.ref(out)

        def done(f: TaskFuture) -> None:
            target = ref()
            if target is None:
                return
            err = f.exception()
            if err is not None:
                target.set_exception(err)
            else:
                target.set_result(f.result())

        tf.add_done_callback(done)
        return out

    def _unwrap(self, value: Any) -> Any:
        if isinstance(value, Future):
            tf = self._links.get(value)
            return value if tf is None else tf
        if isinstance(value, list | tuple):
            return type(value)(self._unwrap(v) for v in value)
        if isinstance(value, dict):
            return {k: self._unwrap(v) for k, v in value.items()}
        return value


class SyncStream:
    """A session's :class:`~tandem.runtime.stream_state.Stream` for a thread outside its loop:
    ``put`` and ``get`` block (``get`` raises :class:`~tandem.data.stream.EndOfStream` at the
    end), ``for item in stream`` reads to the end."""

    def __init__(self, stream: Stream, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self.name = stream.name

    def put(self, item: Any) -> None:
        """Put ``item`` (blocks while the stream is full)."""
        asyncio.run_coroutine_threadsafe(self._stream.put(item), self._loop).result()

    def get(self) -> Any:
        """The next item (blocks until there is one)."""
        return asyncio.run_coroutine_threadsafe(self._stream.get(), self._loop).result()

    def __iter__(self) -> Iterator[Any]:
        return until_end(self.get)

    def close(self) -> None:
        """No more writers: the stream ends once those open have closed."""
        self._call(self._stream.close)

    def fail(self, why: str) -> None:
        """Fail the stream for every reader and blocked writer."""
        self._call(lambda: self._stream.fail(why))

    def stats(self) -> StreamStats:
        return self._call(self._stream.stats)  # type: ignore[no-any-return]

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()


def _forwarder(name: str, returns_future: bool) -> Callable[..., Any]:
    @functools.wraps(getattr(Session, name))
    def forward(self: SyncSession, *args: Any, **kwargs: Any) -> Any:
        return self._forward(name, returns_future, args, kwargs)
    return forward


for _name, _returns in FORWARDED.items():
    setattr(SyncSession, _name, _forwarder(_name, _returns))
