"""The model backend: any task "runs" for a modelled duration and returns a modelled result.

Contract: a :class:`~tandem.runtime.backend.Backend` for sessions on virtual time (see
:mod:`tandem.sim.virtual`): no processes, no threads; a launched task holds its placed slots
for its modelled duration (loop timers, like :class:`~tandem.backends.mock.MockBackend`), then
exits with its modelled result. Never touches scheduler state. Imports the runtime's backend
interface, ``tandem.core.values``, ``tandem.spec`` and ``tandem.trace``.

Durations (``durations=``), per task, first that applies:

1. a mapping from kind to a :class:`~tandem.spec.workflow.Duration` (drawn from a seeded
   generator, in launch order), a number of seconds, or a callable ``(spec) -> seconds``; or a
   single callable ``(spec) -> seconds`` for every task. ``spec.work`` holds the task's
   arguments with dependency results already substituted;
2. a :class:`~tandem.spec.task.Mock` task's ``seconds``;
3. the task's ``estimate=``.

A task with none of these fails at launch (a ``LAUNCH`` failure naming its kind and the fix).

Results (``results=``): a mapping from kind to a callable taking the task's own arguments (a
stand-in for its function: a cheap model of the objective), or a single callable
``(spec) -> value``. A function task of a kind not named runs its own function in this process,
at no virtual cost (right for cheap steps such as fitting a small surrogate); executables and
mocks give ``None``. An exception from a result model fails the task, as it would have.

Steering, as the mock backend models it: ``pause`` stops the task's clock (the time left is
kept), ``resume`` starts it again; ``preempt`` ends it at once as if it wrote a perfect
checkpoint: its next launch runs only for the time it had left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
import signal
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from tandem.core.values import Failure, FailureKind, Placement
from tandem.errors import BackendError, SpecError
from tandem.runtime.backend import Backend, LaunchRequest, Outcome, Reporter
from tandem.spec.task import FunctionCall, Mock, TaskSpec, Work
from tandem.spec.workflow import Duration
from tandem.trace.instrument import Instrument

DurationModel = Duration | float | Callable[[TaskSpec], float]
Durations = Mapping[str, DurationModel] | Callable[[TaskSpec], float] | None
Results = Mapping[str, Callable[..., Any]] | Callable[[TaskSpec], Any] | None


class ModelBackend(Backend):
    """Runs every kind of work on modelled time with modelled results (module docstring).
    Pass :attr:`instrument` to the session too: it hands the backend each task's spec."""

    name = "model"
    multi_rank = True
    steerable = True

    def __init__(self, durations: Durations = None, results: Results = None, *,
                 seed: int = 0) -> None:
        if durations is not None and not callable(durations) and not isinstance(durations,
                                                                               Mapping):
            raise SpecError(f"durations: a mapping from kind to a duration, or a callable "
                            f"(spec) -> seconds; got {durations!r}")
        if results is not None and not callable(results) and not isinstance(results, Mapping):
            raise SpecError(f"results: a mapping from kind to a callable, or a callable "
                            f"(spec) -> value; got {results!r}")
        self._durations = durations
        self._results = results
        self._rng = random.Random(seed)
        self._specs: dict[int, TaskSpec] = {}
        self._specs_running: dict[int, TaskSpec] = {}   # arguments substituted
        self._pending: dict[int, asyncio.Handle] = {}   # its start, then its exit timer
        self._ends: dict[int, float] = {}       # running: when its timer fires
        self._paused: dict[int, float] = {}     # paused: seconds it has left
        self._given: dict[int, float] = {}      # seconds of its current launch
        self._total: dict[int, float] = {}      # preempted: its modelled duration
        self._done: dict[int, float] = {}       # preempted: seconds it has run
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.instrument: Instrument = _SpecTap(self)
        self.launched = 0

    # -- the backend interface --------------------------------------------------------------
    def accepts(self, work: Work) -> bool:
        return True

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()

    def launch(self, request: LaunchRequest) -> None:
        loop, reporter = self._loop, self._reporter
        if loop is None or reporter is None:
            raise BackendError("ModelBackend.launch called before start()")
        tid = request.task_id
        spec = self._specs.get(tid)
        if spec is None:
            raise BackendError(f"ModelBackend: no spec for task {tid}; pass the backend's "
                               "instrument to the session (instruments=[backend.instrument])")
        spec = dataclasses.replace(spec, work=request.work)   # arguments substituted
        self.launched += 1
        try:
            if tid in self._done:       # preempted before: the rest of its modelled time
                seconds = max(0.0, self._total[tid] - self._done[tid])
            else:
                seconds = self._total[tid] = self._duration(spec)
        except SpecError as e:
            loop.call_soon(reporter.exited, Outcome(tid, failure=Failure(
                kind=FailureKind.LAUNCH, message=str(e))))
            return
        except Exception as e:
            loop.call_soon(reporter.exited, _failed(tid, spec.name, "its duration model", e))
            return
        self._given[tid] = seconds
        self._pending[tid] = loop.call_soon(self._on_start, tid, spec, seconds)

    def kill(self, task_id: int) -> None:
        if self._stop(task_id):
            self._total.pop(task_id, None)
            self._done.pop(task_id, None)

    def pause(self, task_id: int) -> None:
        end = self._ends.pop(task_id, None)
        if end is None:          # not started yet, or ended: nothing runs
            return
        assert self._loop is not None
        self._pending[task_id].cancel()
        self._paused[task_id] = max(0.0, end - self._loop.time())

    def resume(self, task_id: int, placement: Placement | None = None) -> None:
        left = self._paused.pop(task_id, None)
        if left is not None and task_id in self._pending:
            self._arm(task_id, left)

    def preempt(self, task_id: int, signal: int, grace: float) -> None:
        if task_id not in self._pending:
            return
        assert self._loop is not None
        end, left = self._ends.get(task_id), self._paused.get(task_id)
        if left is None:
            left = self._given[task_id] if end is None else max(0.0, end - self._loop.time())
        self._done[task_id] = self._done.get(task_id, 0.0) + self._given[task_id] - left
        self._stop(task_id)

    def _stop(self, task_id: int) -> bool:
        """End a launched task now, reported as killed; whether it was running."""
        handle = self._pending.pop(task_id, None)
        if handle is None:
            return False
        handle.cancel()
        for d in (self._ends, self._paused, self._given, self._specs_running):
            d.pop(task_id, None)
        assert self._loop is not None and self._reporter is not None
        self._loop.call_soon(self._reporter.exited, _killed(task_id))
        return True

    async def shutdown(self) -> None:
        pending, self._pending = self._pending, {}
        for task_id, handle in pending.items():
            handle.cancel()
            if self._reporter is not None:
                self._reporter.exited(_killed(task_id))

    # -- modelled time and results ----------------------------------------------------------
    def _duration(self, spec: TaskSpec) -> float:
        d = self._durations
        model: Any = None
        if callable(d):
            model = d
        elif d is not None:
            model = d.get(spec.kind)
        if model is None:
            if isinstance(spec.work, Mock):
                return float(spec.work.seconds)
            if spec.estimate is not None:
                return float(spec.estimate)
            known = f" (modelled kinds: {', '.join(sorted(d))})" if isinstance(d, Mapping) \
                else ""
            raise SpecError(f"task {spec.name!r} of kind {spec.kind!r} has no modelled duration"
                            f"{known}: give durations={{{spec.kind!r}: seconds or a Duration}}"
                            " or the task an estimate=")
        if isinstance(model, Duration):
            return model.sample(self._rng)
        seconds = float(model(spec) if callable(model) else model)
        if not seconds >= 0:
            raise SpecError(f"duration model gave {seconds!r} s for task {spec.name!r}")
        return seconds

    def _result(self, spec: TaskSpec) -> Any:
        r, work = self._results, spec.work
        if callable(r):
            return r(spec)
        fn = r.get(spec.kind) if r is not None else None
        if fn is None:
            if type(work) is not FunctionCall:
                return None
            fn = work.fn
        value = fn(*work.args, **work.kwargs) if type(work) is FunctionCall else fn()
        if inspect.iscoroutine(value):
            value.close()
            raise SpecError(f"task {spec.name!r}: an async function cannot run on virtual time; "
                            f"give results={{{spec.kind!r}: a plain function}}")
        return value

    def _on_start(self, tid: int, spec: TaskSpec, seconds: float) -> None:
        assert self._reporter is not None
        self._specs_running[tid] = spec
        self._arm(tid, seconds)
        self._reporter.started(tid)

    def _arm(self, tid: int, seconds: float) -> None:
        assert self._loop is not None
        self._ends[tid] = self._loop.time() + seconds
        self._pending[tid] = self._loop.call_later(seconds, self._on_exit, tid)

    def _on_exit(self, tid: int) -> None:
        assert self._reporter is not None
        del self._pending[tid]
        spec = self._specs_running.pop(tid)
        for d in (self._ends, self._given, self._total, self._done):
            d.pop(tid, None)
        try:
            outcome = Outcome(tid, value=self._result(spec))
        except Exception as e:
            outcome = _failed(tid, spec.name, "its result model", e)
        self._reporter.exited(outcome)


class _SpecTap(Instrument):
    """Hands the backend each submitted task's spec; forgets it when the task ends."""

    def __init__(self, backend: ModelBackend) -> None:
        self._backend = backend

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        self._backend._specs[task_id] = spec

    def task_ended(self, record: Any) -> None:
        self._backend._specs.pop(record.task_id, None)


def _failed(tid: int, name: str, what: str, e: Exception) -> Outcome:
    return Outcome(tid, failure=Failure(
        kind=FailureKind.EXCEPTION, message=f"task {name!r}: {what} raised {e!r}",
        traceback="".join(traceback.format_exception(e))))


def _killed(task_id: int) -> Outcome:
    return Outcome(task_id, failure=Failure(
        kind=FailureKind.SIGNAL, signal=int(signal.SIGTERM),
        message="modelled task killed on request"))
