"""The model backend: any task "runs" for a modelled duration and returns a modelled result.

Contract: a :class:`~tandem.backends.base.Backend` for sessions on virtual time (see
:mod:`tandem.sim.virtual`): no processes, no threads; a launched task holds its placed slots
for its modelled duration (the loop timers and steering of
:class:`~tandem.backends.timed.TimedBackend`, shared with the mock backend), then exits with its
modelled result. Never touches scheduler state. Imports the runtime's backend interface,
``tandem.backends.timed``, ``tandem.core.values``, ``tandem.spec`` and ``tandem.trace``.

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
Imports: tandem.backends.base, tandem.backends.timed, tandem.core.values, tandem.errors,
tandem.spec, tandem.trace.instrument.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.timed import TimedBackend
from tandem.core.values import Failure, FailureKind
from tandem.errors import BackendError, SpecError
from tandem.spec.task import FunctionCall, Mock, TaskSpec, Work
from tandem.spec.workflow import Duration
from tandem.trace.instrument import Instrument

DurationModel = Duration | float | Callable[[TaskSpec], float]
Durations = Mapping[str, DurationModel] | Callable[[TaskSpec], float] | None
Results = Mapping[str, Callable[..., Any]] | Callable[[TaskSpec], Any] | None


class ModelBackend(TimedBackend):
    """Runs every kind of work on modelled time with modelled results (module docstring).
    Pass :attr:`instrument` to the session too: it hands the backend each task's spec."""

    name = "model"
    killed_message = "modelled task killed on request"

    def __init__(self, durations: Durations = None, results: Results = None, *,
                 seed: int = 0) -> None:
        if durations is not None and not callable(durations) and not isinstance(durations,
                                                                               Mapping):
            raise SpecError(f"durations: a mapping from kind to a duration, or a callable "
                            f"(spec) -> seconds; got {durations!r}")
        if results is not None and not callable(results) and not isinstance(results, Mapping):
            raise SpecError(f"results: a mapping from kind to a callable, or a callable "
                            f"(spec) -> value; got {results!r}")
        super().__init__()
        self._durations = durations
        self._results = results
        self._rng = random.Random(seed)
        self._specs: dict[int, TaskSpec] = {}
        self._specs_running: dict[int, TaskSpec] = {}   # arguments substituted
        self._total: dict[int, float] = {}      # its modelled duration (kept when preempted)
        self.instrument: Instrument = _SpecTap(self)
        self.launched = 0

    def submitted(self, task_id: int, spec: TaskSpec) -> None:
        """A task was submitted to the session (its spec, for its models)."""
        self._specs[task_id] = spec

    def ended(self, task_id: int) -> None:
        """A task of the session ended: its spec is no longer needed."""
        self._specs.pop(task_id, None)

    # -- the backend interface --------------------------------------------------------------
    def accepts(self, work: Work) -> bool:
        return True

    def launch(self, request: LaunchRequest) -> None:
        loop, reporter = self._started_loop()
        tid = request.task_id
        spec = self._specs.get(tid)
        if spec is None:
            raise BackendError(f"ModelBackend: no spec for task {tid}; pass the backend's "
                               "instrument to the session (instruments=[backend.instrument])")
        spec = dataclasses.replace(spec, work=request.work)   # arguments substituted
        self.launched += 1
        try:
            if tid in self._done:       # preempted before: the rest of its modelled time
                seconds = max(0.0, self._total[tid] - self._ran(tid))
            else:
                seconds = self._total[tid] = self._duration(spec)
        except SpecError as e:
            loop.call_soon(reporter.exited, Outcome(tid, failure=Failure(
                kind=FailureKind.LAUNCH, message=str(e))))
            return
        except Exception as e:
            loop.call_soon(reporter.exited, _failed(tid, spec.name, "its duration model", e))
            return
        self._specs_running[tid] = spec
        self._run_for(tid, seconds)

    def _forget(self, task_id: int) -> None:
        self._total.pop(task_id, None)
        self._specs_running.pop(task_id, None)

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

    def _outcome(self, tid: int) -> Outcome:
        spec = self._specs_running[tid]
        try:
            return Outcome(tid, value=self._result(spec))
        except Exception as e:
            return _failed(tid, spec.name, "its result model", e)


class _SpecTap(Instrument):
    """Hands the backend each submitted task's spec; forgets it when the task ends."""

    def __init__(self, backend: ModelBackend) -> None:
        self._backend = backend

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        self._backend.submitted(task_id, spec)

    def task_resolved(self, task_id: int) -> None:
        self._backend.ended(task_id)


def _failed(tid: int, name: str, what: str, e: Exception) -> Outcome:
    return Outcome(tid, failure=Failure(
        kind=FailureKind.EXCEPTION, message=f"task {name!r}: {what} raised {e!r}",
        traceback="".join(traceback.format_exception(e))))
