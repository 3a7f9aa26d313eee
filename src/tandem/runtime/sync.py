"""A synchronous entry point for scripts that do not use asyncio.

Contract: runs one event loop with one :class:`Session` in a background thread and forwards
calls to it with ``call_soon_threadsafe``; futures are :class:`concurrent.futures.Future`.
Imports ``tandem.runtime.session``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

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
        if self._error is not None and exc[0] is None:
            raise self._error

    def _call(self, method: Callable[..., TaskFuture], *args: Any, **kwargs: Any
              ) -> concurrent.futures.Future[Any]:
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def go() -> None:
            try:
                tf = method(*self._unwrap(args), **self._unwrap_kw(kwargs))
            except BaseException as e:
                out.set_exception(e)
                return
            self._links[id(out)] = tf
            out.task_id = tf.task_id  # type: ignore[attr-defined]

            def done(f: TaskFuture) -> None:
                err = f.exception()
                if err is not None:
                    out.set_exception(err)
                else:
                    out.set_result(f.result())

            tf.add_done_callback(done)

        done_submit = threading.Event()

        def go_and_signal() -> None:
            go()
            done_submit.set()

        self._loop.call_soon_threadsafe(go_and_signal)
        done_submit.wait()
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
        assert self._session is not None
        return self._call(self._session.submit, fn, *args, **options)

    def execute(self, argv: Any, **options: Any) -> concurrent.futures.Future[Any]:
        assert self._session is not None
        return self._call(self._session.execute, argv, **options)
