"""The warm function worker: a process that runs Python calls sent by ``FunctionBackend``.

Contract: one responsibility, the worker's main loop (``python -m tandem.backends.worker IN OUT
PARENT``, with ``IN``/``OUT`` the pipe fds passed by the backend and ``PARENT`` its pid; or
``python -m tandem.backends.worker --connect HOST:PORT ID`` on another node: the worker connects
to the driver over TCP, sends :func:`~tandem.backends.framing.hello` with the token it reads from
``TANDEM_WORKER_TOKEN`` (then removed from its environment) and its id ``ID``, and speaks the same
frames over that connection; its stdout/stderr, which carry the tasks' prints, are the step's).
Besides the standard library, only the wire format, so that a worker starts fast (cloudpickle
is imported by unpickling, and for results plain pickle refuses).
Imports: tandem.backends.framing, tandem.data.segments.

Rules:

- One call at a time, blocking reads of exact sizes; the wire format is in ``framing``.
- Functions are cached by the id the main side gave them; a function that failed to unpickle
  is cached as broken, so every later call with that id fails the same way.
- Before a call whose message carries cores, the worker pins itself (all its threads) to them
  (``()``: every core it was allowed at start) and sets the placement environment in
  ``os.environ``; ``TANDEM_TASK_ID`` is set for every call. GPU visibility is fixed for the
  worker's life by the environment it was started with.
- Coroutines (and other awaitables) returned by a call are run to completion on one asyncio
  loop that lives as long as the worker, so loop-bound state stays warm too.
- Memory: a ``LIMIT`` message (``(LIMIT, bytes, procs, home)``) limits the next call only
  (:mod:`tandem.backends.memory` decides how): with ``procs`` (a cgroup's ``cgroup.procs``),
  the worker moves into that cgroup for the call and back to ``home`` after it; else it lowers
  its soft ``RLIMIT_DATA`` to its data size plus ``bytes`` for the call (an allocation beyond
  raises ``MemoryError``) and restores it after. Either way the limit is on what the call
  adds to the warm worker. After the call (before its result) it sends ``(PEAK, bytes)``:
  how far its resident memory rose above where it was at the call's start (``None`` in a
  cgroup, whose own peak the main side reads).
- Results by reference: ``INIT`` names the session's segment directory and the size from
  which results are kept (``None``, ``None``: never). A result that pickles (protocol 5, its
  buffers out of band) to at least that size, or any result of a call whose ``ref`` is true,
  is written to a new segment (:mod:`tandem.data.segments`) and answered ``(KEPT, (path,
  nbytes))``; ``ref`` false sends it by value. Small scalars are never kept by size. A result
  that needs cloudpickle, or a segment that cannot be written (the directory full), goes by
  value; so does every result of a worker that cannot see the directory (on another host than
  the driver), and its ``READY`` says so.
- Exceptions (``BaseException``: ``sys.exit`` in a task fails the task, not the worker) come
  back as type name, message and traceback text; the worker goes on.
- The worker exits on end of file of its input pipe (or connection), dies with its parent
  (``PR_SET_PDEATHSIG``: precisely, with the thread that spawned it, the backend's event-loop
  thread) and dumps a Python traceback to stderr on a fatal signal (``faulthandler``).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import sys
import traceback
from collections.abc import Awaitable, Callable
from types import CoroutineType, TracebackType
from typing import Any

from tandem.backends.framing import (
    ERROR,
    FORGET,
    KEPT,
    OK,
    PROTOCOL,
    READY,
    SETUP,
    UNPICKLABLE,
    BlockingReader,
    frame,
    hello,
    write_all,
    write_frame,
)


class _Broken:
    """A cached function that could not be unpickled."""

    __slots__ = ("message", "traceback")

    def __init__(self, message: str, tb: str) -> None:
        self.message = message
        self.traceback = tb


class _SetupError(Exception):
    pass


LIMIT = -3   # main -> worker: (LIMIT, bytes, procs or None, home or None), for the next call
PEAK = 5     # worker -> main, before a limited call's result: bytes above its start, or None


def _statm() -> tuple[int, int]:
    """This process's resident memory, and its data and stack (``RLIMIT_DATA`` counts the
    data), in bytes (``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        fields = f.read().split()
    page = os.sysconf("SC_PAGE_SIZE")
    return int(fields[1]) * page, int(fields[5]) * page


def _peak_rss() -> int:
    """This process's peak resident memory in bytes (``VmHWM``; ``ru_maxrss`` would also count
    the pages of the process it was started from)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return 0


def _join(procs: str) -> None:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))


def _hold(limit: tuple[Any, ...]) -> tuple[Any, ...]:
    """Apply a call's limit; what :func:`_release` needs to undo it."""
    size, procs, home = limit
    if procs is not None:
        try:
            _join(procs)
        except OSError as exc:
            raise _SetupError(f"could not join its memory cgroup {procs}: {exc}", "") from None
        return (None, home)
    import resource

    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")   # the peak RSS restarts from the RSS now (Linux >= 4.0)
    start, data = _statm()
    old = resource.getrlimit(resource.RLIMIT_DATA)
    soft = data + size
    if old[1] != resource.RLIM_INFINITY:
        soft = min(soft, old[1])
    resource.setrlimit(resource.RLIMIT_DATA, (soft, old[1]))
    return (old, start)


def _release(held: tuple[Any, ...]) -> int | None:
    """Undo :func:`_hold`; the call's peak above the worker's memory at its start."""
    old, where = held
    if old is None:
        with contextlib.suppress(OSError):
            _join(where)
        return None
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, old)
    start: int = where
    return max(0, _peak_rss() - start)


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _describe(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not take the worker down
        return f"<{type(exc).__name__} with an unprintable message>"


def _format(exc: BaseException, skip: int = 1) -> str:
    tb: TracebackType | None = exc.__traceback__
    for _ in range(skip):  # drop the worker's own frames
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        return f"{type(exc).__name__}: {_describe(exc)}\n"


def _pin(cores: set[int]) -> None:
    """Pin every thread of this process (native thread pools included) to ``cores``."""
    os.sched_setaffinity(0, cores)
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return
    if len(tids) > 1:
        for tid in tids:
            with contextlib.suppress(OSError):  # the thread may have ended meanwhile
                os.sched_setaffinity(int(tid), cores)


class _Async:
    """Runs awaitables to completion on one loop kept for the worker's life."""

    def __init__(self) -> None:
        import asyncio

        self.runner = asyncio.Runner()

    def run(self, value: Awaitable[Any]) -> Any:
        if type(value) is not CoroutineType:
            value = _await(value)
        return self.runner.run(value)


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _dump_result(result: Any) -> bytes:
    try:
        return pickle.dumps((OK, result), PROTOCOL)
    except Exception:
        pass
    try:
        import cloudpickle

        return cloudpickle.dumps((OK, result), protocol=PROTOCOL)  # type: ignore[no-any-return]
    except Exception as exc:
        why = f"result of type {type(result).__name__} could not be pickled: " \
              f"{type(exc).__name__}: {_describe(exc)}"
        return pickle.dumps((UNPICKLABLE, why), PROTOCOL)


_SMALL = frozenset({int, float, bool, type(None), complex})


def _keep(result: Any, path: str, above: int) -> bytes:
    """The answer for ``result`` when results of ``above`` bytes or more are kept: a
    ``KEPT`` message naming the segment it was written to, or the value itself when it is
    smaller, cannot be pickled without cloudpickle, or the segment could not be written."""
    from tandem.data import segments

    try:
        main, buffers = segments.dumps(result)
    except Exception:
        return _dump_result(result)
    size = segments.size_of(main, buffers)
    if size < above:
        return _dump_result(result)
    try:
        nbytes = segments.write(path, main, buffers)
    except segments.SegmentError as exc:   # e.g. /dev/shm full: the value goes by the pipe
        print(f"tandem worker: {exc}; the result is sent by value", file=sys.stderr)
        return _dump_result(result)
    return pickle.dumps((KEPT, (path, nbytes)), PROTOCOL)


def serve(reader: BlockingReader, out_fd: int) -> int:
    """The main loop; returns the exit status (0 when the main side closes the pipe)."""
    init = reader.next_frame()
    if init is None:
        return 0
    init_msg = pickle.loads(init)
    for entry in reversed(init_msg[1]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    keep_dir, keep_above = init_msg[2], init_msg[3]
    if keep_dir is not None and not os.path.isdir(keep_dir):
        keep_dir = None           # another host's memory: results go by value
    kept = 0
    write_frame(out_fd, pickle.dumps((READY, (os.getpid(), keep_dir is not None)), PROTOCOL))

    fns: dict[int, Callable[..., Any] | _Broken] = {}
    start_mask = os.sched_getaffinity(0)
    mask = start_mask
    environ = os.environ
    loads = pickle.loads
    dumps = pickle.dumps
    next_frame = reader.next_frame
    no_args: Any = ()
    no_kwargs: Any = {}
    args: Any
    kwargs: Any
    aio: _Async | None = None
    limit: tuple[Any, ...] | None = None
    held: tuple[Any, ...] | None = None
    failed: BaseException | None = None
    while True:
        body = next_frame()
        if body is None:
            return 0
        msg = loads(body)
        task_id = msg[0]
        if task_id < 0:
            if task_id == FORGET:
                fns.clear()
            elif task_id == LIMIT:
                limit = msg[1:]
            continue
        _, fn_id, fn_bytes, payload, cores, env, ref = msg
        call_limit, limit = limit, None
        try:
            if fn_bytes is not None:
                try:
                    fns[fn_id] = loads(fn_bytes)
                except BaseException as exc:
                    fns[fn_id] = _Broken(
                        f"could not unpickle the function in the worker: "
                        f"{type(exc).__name__}: {_describe(exc)}", _format(exc, 0))
            fn: Any = fns[fn_id]
            if type(fn) is _Broken:
                raise _SetupError(fn.message, fn.traceback)
            if payload is None:
                args, kwargs = no_args, no_kwargs
            else:
                try:
                    args, kwargs = loads(payload)
                except BaseException as exc:
                    raise _SetupError(
                        f"could not unpickle the arguments in the worker: "
                        f"{type(exc).__name__}: {_describe(exc)}", _format(exc, 0)) from None
            if cores is not None:
                want = set(cores) if cores else start_mask
                if want != mask or want != os.sched_getaffinity(0):  # re-pinned from outside?
                    try:
                        _pin(want)
                    except OSError as exc:
                        raise _SetupError(f"could not pin to cores {sorted(want)}: {exc}",
                                          "") from None
                    mask = want
                environ.update(env)
            if call_limit is not None:
                held = _hold(call_limit)
        except _SetupError as exc:
            write_frame(out_fd, dumps((SETUP, exc.args), PROTOCOL))
            continue
        except BaseException as exc:  # a bug here must not hang the task
            write_frame(out_fd, dumps((SETUP, (f"worker error: {exc!r}", _format(exc, 0))),
                                      PROTOCOL))
            continue
        environ["TANDEM_TASK_ID"] = str(task_id)
        result: Any = None
        try:
            result = fn(*args, **kwargs)
            if result is not None and hasattr(result, "__await__"):
                if aio is None:
                    aio = _Async()
                result = aio.run(result)
        except BaseException as exc:
            failed = exc
        peak = b""
        if held is not None:   # the limit ends with the call, before its result is pickled
            peak = frame(dumps((PEAK, _release(held)), PROTOCOL))
            held = None
        if failed is not None:
            out = dumps((ERROR, (type(failed).__name__, _describe(failed), _format(failed))),
                        PROTOCOL)
        elif keep_dir is not None and ref is not False and (
                ref or type(result) not in _SMALL) and (ref or keep_above is not None):
            kept += 1
            out = _keep(result, f"{keep_dir}/{task_id}-{os.getpid()}-{kept}",
                        0 if ref else keep_above)
        else:
            out = _dump_result(result)
        args = kwargs = result = failed = None  # do not keep the task's objects alive while idle
        if peak and len(out) < 1 << 16:   # one write: the main side reads both at once
            write_all(out_fd, peak + frame(out))
        else:
            if peak:
                write_all(out_fd, peak)
            write_frame(out_fd, out)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass


def _connect(address: str, worker_id: int) -> int:
    """Connect to the driver at ``HOST:PORT`` and introduce this worker; the socket's fd."""
    import socket

    host, _, port = address.rpartition(":")
    token = os.environ.pop("TANDEM_WORKER_TOKEN", "")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=60)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(hello(token, worker_id))
    return sock.detach()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[0] == "--connect":
        fd = _connect(args[1], int(args[2]))
        _die_with_parent(os.getppid())
        faulthandler.enable()
        return serve(BlockingReader(fd), fd)
    in_fd, out_fd, parent = int(args[0]), int(args[1]), int(args[2])
    os.set_inheritable(in_fd, False)  # children of tasks must not hold our pipes open
    os.set_inheritable(out_fd, False)
    _die_with_parent(parent)
    faulthandler.enable()
    return serve(BlockingReader(in_fd), out_fd)


if __name__ == "__main__":
    sys.exit(main())
