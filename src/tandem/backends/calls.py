"""One function call between the main process and a worker: the frame that goes out, the
failure that comes back.

Contract: the main side's half of a call for :class:`~tandem.backends.functions.FunctionBackend`
(which decides which worker runs it); no I/O, no asyncio. Rules:

- a function object is pickled once (cloudpickle) and cached by identity (its state is captured
  at its first launch); a worker receives its bytes once, and is told to forget them all when
  it holds more than a bound;
- a call carries the placement (cores to pin to and the environment) only when it differs from
  the worker's last call, or when the attempt number a worker's environment shows must change.
  The cores are :func:`~tandem.backends.placement.pin_cores`: the placed cores, or the shared
  cores of a task placed on none (``()``: the worker's mask at start);
- a task's own problem (a function or arguments that cannot be pickled) is a :class:`CallError`
  whose message names the task; the backend reports it as a ``LAUNCH`` failure;
- for a worker that cannot see the session's kept results (a node on another host), the
  arguments are pickled with every :class:`~tandem.data.refs.DataRef` replaced by its value
  (``inline``): the driver maps the segment and the value travels in the call.

Imports: tandem.backends.base, tandem.backends.framing, tandem.backends.placement,
tandem.backends.worker_handle, tandem.core.values, tandem.data.refs, tandem.spec.
"""

from __future__ import annotations

import io
import operator
import pickle
from typing import Any

from tandem.backends.base import LaunchRequest
from tandem.backends.framing import (
    ERROR,
    FORGET,
    PROTOCOL,
    SETUP,
    FunctionPickles,
    dump_args,
    frame,
    is_plain,
    pack_header,
)
from tandem.backends.placement import placement_env
from tandem.backends.worker_handle import WorkerHandle
from tandem.core.values import Failure, FailureKind
from tandem.data.refs import DataRef
from tandem.spec.task import FunctionCall

WORKER_FNS_MAX = 512  # functions a worker keeps before it is told to forget them
_FORGET_FRAME = frame(pickle.dumps((FORGET,), PROTOCOL))
_dumps = pickle.dumps

#: A pickled function: (the function, its id, its cloudpickle bytes).
Entry = tuple[Any, int, bytes]


class CallError(Exception):
    """A call that cannot be sent: ``args[0]`` says why, naming the task."""


def why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Calls:
    """Pickles functions once and builds each call's frame for the worker that runs it."""

    __slots__ = ("_fns", "_pickles")

    def __init__(self) -> None:
        self._pickles = FunctionPickles()
        self._fns = self._pickles.entries

    def prepare(self, request: LaunchRequest, work: FunctionCall, inline: bool = False
                ) -> tuple[Entry, bytes | None]:
        """The function's cache entry and the pickled arguments (``None``: no arguments), with
        kept results by value when ``inline``; :class:`CallError` if either cannot be
        pickled."""
        fn = work.fn
        entry = self._fns.get(id(fn))
        if entry is None:
            try:
                entry = self._pickles.add(fn)
            except Exception as exc:
                raise CallError(f"{request.name}: could not pickle function {work.label}: "
                                f"{why(exc)}") from None
        if not (work.args or work.kwargs):
            return entry, None
        try:
            if inline:
                return entry, dump_args_inline(work.args, work.kwargs)
            return entry, dump_args(work.args, work.kwargs)
        except Exception as exc:
            raise CallError(f"{request.name}: could not pickle the arguments of {work.label}: "
                            f"{why(exc)}") from None

    def frame(self, w: WorkerHandle, request: LaunchRequest, entry: Entry,
              payload: bytes | None, cores: tuple[int, ...]) -> bytes:
        """The bytes that make ``w`` run the call (updating what ``w`` is known to hold);
        ``cores`` are the request's :func:`~tandem.backends.placement.pin_cores`."""
        placement = request.placement
        node = placement.slots[0].node
        sent: tuple[int, ...] | None = cores
        env = None
        rerun = request.attempt > 1
        if cores != w.cores or node != w.node or rerun or w.rerun:
            w.cores = cores
            w.node = node
            env = placement_env(placement, request.shared_cores)
            if rerun or w.rerun:   # say which attempt this is (and reset it after a re-run)
                env = {**env, "TANDEM_ATTEMPT": str(request.attempt),
                       "TANDEM_PREEMPTED": str(request.preempted)}
                w.rerun = rerun
        else:
            sent = None
        fn_id = entry[1]
        known = w.known
        ref = request.work.ref   # type: ignore[union-attr]
        if fn_id in known:
            body = _dumps((request.task_id, fn_id, None, payload, sent, env, ref), PROTOCOL)
            return pack_header(len(body)) + body
        prefix = b""
        if len(known) >= WORKER_FNS_MAX:
            known.clear()
            prefix = _FORGET_FRAME
        known.add(fn_id)
        body = _dumps((request.task_id, fn_id, entry[2], payload, sent, env, ref), PROTOCOL)
        return prefix + pack_header(len(body)) + body


def dump_args_inline(args: tuple[Any, ...], kwargs: Any) -> bytes:
    """Pickle ``(args, kwargs)`` as :func:`~tandem.backends.framing.dump_args` does, every
    :class:`~tandem.data.refs.DataRef` in them replaced by its value."""
    kw = kwargs if type(kwargs) is dict else dict(kwargs)
    if is_plain(args, kw):
        return dump_args(args, kw)
    import cloudpickle

    class Inline(cloudpickle.Pickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is DataRef:       # unpickles as its value: ``(value,)[0]``
                return operator.getitem, ((obj.value(),), 0)
            return super().reducer_override(obj)

    buf = io.BytesIO()
    Inline(buf, protocol=PROTOCOL).dump((args, kw))
    return buf.getvalue()


def result_failure(name: str, status: int, value: Any) -> Failure:
    """The failure of task ``name`` whose worker answered ``(status, value)``, not ``OK``."""
    if status == ERROR:
        etype, message, tb = value
        return Failure(kind=FailureKind.EXCEPTION, traceback=tb,
                       message=f"{name}: {etype}: {message}" if message else f"{name}: {etype}")
    if status == SETUP:
        return Failure(kind=FailureKind.LAUNCH, message=f"{name}: {value[0]}",
                       traceback=value[1])
    return Failure(kind=FailureKind.EXCEPTION, message=f"{name}: {value}")
