"""The surrogate-or-run wrapper: ``await sur(x)`` answers from the model when it is trusted for
``x``, else runs the real function as a task of the session.

Contract: :class:`Surrogate` lives on the session's event-loop thread and only uses the
session's public API (``submit``, futures' done-callbacks, ``time``, ``add_instrument``); the
scheduler places every real call, audit and retraining like any task. Per call:

1. the current model version (a snapshot: a swap during the call does not change it) predicts
   ``(mean, std)`` for ``x`` in the driver, or, with ``serve=`` (:class:`Serving`), as a task
   in a warm worker (:func:`tandem.surrogate.serve.infer`: the version is read once per worker;
   a prediction task that fails makes the call a real one); the policy turns them into one
   uncertainty;
2. uncertainty below the policy's threshold: the mean is returned at once; with the policy's
   audit probability the real function also runs, as a task at ``audit_priority`` (below the
   real calls'), and when it ends its error is measured and given to the policy (the
   controller), and its pair is stored;
3. otherwise (or before any model) the real function runs as a task with the resources the
   user gave; its pair is stored and its value returned.

Retraining is a task too (:func:`tandem.surrogate.versions.retrain`, with the resources and
priority of :class:`~tandem.surrogate.options.Retraining`), at most one at a time, on a
snapshot of the store: the first once ``min_pairs`` pairs exist, then after ``every`` new
pairs, or as soon as the mean of the last ``window`` audited errors exceeds the bound. Its
model is saved as ``<run_dir>/<name>/models/v{n}.pkl``, read back when the task ends (by the
workers, with ``serve=``, at their next call) and swapped in for the calls that start after
(a done-callback: no call waits for it). Every decision, audit, retraining and swap is
recorded (:mod:`tandem.surrogate.records`) in ``<run_dir>/<name>.jsonl``.
Imports: tandem.errors, tandem.runtime.future, tandem.runtime.options, tandem.runtime.session,
tandem.spec.checks, tandem.surrogate.controller, tandem.surrogate.gp, tandem.surrogate.options,
tandem.surrogate.policy, tandem.surrogate.protocols, tandem.surrogate.records,
tandem.surrogate.serve, tandem.surrogate.store, tandem.surrogate.summary,
tandem.surrogate.versions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np

from tandem.errors import SpecError
from tandem.runtime.future import TaskFuture
from tandem.runtime.options import TaskOptions
from tandem.runtime.session import Session
from tandem.spec.checks import is_int
from tandem.surrogate.controller import ErrorBound
from tandem.surrogate.options import CallOptions, Retraining, Serving
from tandem.surrogate.policy import BoundPolicy
from tandem.surrogate.protocols import (
    Array,
    DataStore,
    Model,
    TrustPolicy,
    check_part,
    checked_prediction,
)
from tandem.surrogate.records import (
    Audit,
    AuditFailed,
    Call,
    Retrain,
    RetrainFailed,
    Started,
    SurrogateLog,
    Swap,
)
from tandem.surrogate.serve import infer
from tandem.surrogate.store import MemoryStore
from tandem.surrogate.summary import SurrogateSummary, summarize, write_summary
from tandem.surrogate.versions import ModelVersion, load_version, retrain

log = logging.getLogger("tandem.surrogate")
_REFUSED = ("name", "kind", "after", "key")


@dataclass(frozen=True, slots=True)
class _Serving:
    version: int
    model: Any          # in the driver (None when workers serve, or before any version)
    path: str | None = None


class Surrogate:
    """Wrap ``fn`` (a picklable function of one 1-D float array returning a scalar or a 1-D
    array) with a surrogate in ``session``. Give ``bound`` (a number, with ``relative``, or an
    :class:`ErrorBound`) or a ready ``policy``. ``model``: a prototype
    (:class:`~tandem.surrogate.protocols.Model`; default a scikit-learn GP). ``store``: the
    pairs (default in memory; may hold pairs already known). ``dim``: the length of ``x``
    (default: the first call's). ``options``: the real calls' task options (``cores``,
    ``gpus``, ``priority``, ``timeout``, ``pool``, ...); audits take the same, at
    ``audit_priority``, which must be below the real calls' priority. ``serve``: predict in
    warm workers (:class:`~tandem.surrogate.options.Serving`) instead of the driver."""

    def __init__(self, session: Session, fn: Callable[[Any], Any], *,
                 bound: float | ErrorBound | None = None, relative: bool = False,
                 model: Model | None = None, policy: TrustPolicy | None = None,
                 store: DataStore | None = None, retraining: Retraining | None = None,
                 audit_fraction: float = 0.1, audit_priority: int = -10,
                 name: str = "surrogate", dim: int | None = None, seed: int = 0,
                 serve: Serving | None = None, **options: Unpack[CallOptions]) -> None:
        if not isinstance(session, Session):
            raise SpecError(f"Surrogate: session must be a tandem Session, got {session!r}")
        if not callable(fn):
            raise SpecError(f"Surrogate: fn must be a function, got {fn!r}")
        if not isinstance(name, str) or not name or not name.replace("-", "_").isidentifier():
            raise SpecError(f"Surrogate: name must be a word (letters, digits, _ or -), got "
                            f"{name!r}")
        refused = [k for k in _REFUSED if k in options]   # untyped callers
        if refused:
            raise SpecError(f"Surrogate {name!r}: the real calls' {', '.join(refused)} are the "
                            f"surrogate's to set (kinds {name}-real, {name}-audit, "
                            f"{name}-retrain)")
        if dim is not None and (not is_int(dim) or dim < 1):
            raise SpecError(f"Surrogate {name!r}: dim must be an integer >= 1, got {dim!r}")
        priority = options.get("priority", 0)
        if not is_int(audit_priority) or not is_int(priority) or audit_priority >= priority:
            raise SpecError(f"Surrogate {name!r}: audit_priority ({audit_priority!r}) must be "
                            f"an integer below the real calls' priority ({priority!r}): audits "
                            "are low-priority tasks")
        self.policy = self._policy(name, bound, relative, policy, audit_fraction, seed)
        self.model = model if model is not None else _default_model(seed)
        check_part(self.model, Model, f"Surrogate {name!r}: model")
        self.store = store if store is not None else MemoryStore()
        check_part(self.store, DataStore, f"Surrogate {name!r}: store")
        if serve is not None and not isinstance(serve, Serving):
            raise SpecError(f"Surrogate {name!r}: serve must be a Serving, got {serve!r}")
        self.serve = serve
        self.retraining = retraining if retraining is not None else Retraining()
        if not isinstance(self.retraining, Retraining):
            raise SpecError(f"Surrogate {name!r}: retraining must be a Retraining, got "
                            f"{self.retraining!r}")
        self.session, self.fn, self.name, self.dim = session, fn, name, dim
        self.models_dir = session.run_dir / name / "models"
        self._options: CallOptions = options
        self._audit_options: CallOptions = {**options, "priority": audit_priority}
        where = session.run_dir / f"{name}.summary.json"
        self._log = SurrogateLog(session.run_dir / f"{name}.jsonl", name,
                                 on_close=lambda records: write_summary(records, where),
                                 note=session.note)
        self._unsubscribe = session.add_instrument(self._log)
        self._serving = _Serving(0, None)
        self._calls = 0
        self._y_shape: tuple[int, ...] | None = None
        self._new_pairs = len(self.store)
        self._training: TaskFuture | None = None
        self._pending: str | None = None
        self._next_version = 1
        self._errors: deque[float] = deque(maxlen=self.retraining.window)
        self._swapped = asyncio.Event()
        self._log.write(Started(t=session.time(), name=name, bound=self.policy.bound.value,
                                relative=self.policy.bound.relative,
                                setpoint=self.policy.bound.setpoint,
                                threshold=self.policy.threshold()))
        self._maybe_retrain("first")

    @staticmethod
    def _policy(name: str, bound: float | ErrorBound | None, relative: bool,
                policy: TrustPolicy | None, audit_fraction: float, seed: int) -> Any:
        if policy is not None:
            if bound is not None:
                raise SpecError(f"Surrogate {name!r}: give bound= or policy=, not both (the "
                                "policy holds its bound)")
            check_part(policy, TrustPolicy, f"Surrogate {name!r}: policy")
            if not isinstance(getattr(policy, "bound", None), ErrorBound):
                raise SpecError(f"Surrogate {name!r}: policy {type(policy).__name__} must have "
                                "a bound attribute (an ErrorBound)")
            return policy
        if bound is None:
            raise SpecError(f"Surrogate {name!r}: give bound= (the mean error allowed, > 0) "
                            "or policy=")
        if not isinstance(bound, ErrorBound):
            bound = ErrorBound(value=bound, relative=relative)   # checks bound > 0
        return BoundPolicy(bound, audit_fraction=audit_fraction, seed=seed)

    # -- what it is ------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The model version serving new calls (0: none yet)."""
        return self._serving.version

    @property
    def serving(self) -> tuple[int, Any]:
        """The model version serving new calls and its model (``(0, None)`` before any)."""
        return self._serving.version, self._serving.model

    @property
    def records(self) -> list[Any]:
        """Every record so far (:mod:`tandem.surrogate.records`), in order."""
        return list(self._log.records)

    def summary(self) -> SurrogateSummary:
        return summarize(self._log.records)

    async def wait_version(self, version: int = 1) -> None:
        """Wait until model ``version`` (or a later one) serves; :class:`SpecError` when no
        retraining that could make it is in flight or due."""
        while self._serving.version < version:
            if self._training is None:
                raise SpecError(f"Surrogate {self.name!r}: version {version} is not coming "
                                f"(serving {self._serving.version}, no retraining in flight; "
                                f"{len(self.store)} pairs, the first fit needs "
                                f"{self.retraining.min_pairs})")
            self._swapped.clear()
            await self._swapped.wait()

    def close(self) -> None:
        """Flush and close the log (the session's end does it too)."""
        self._log.close()

    # -- a call ----------------------------------------------------------------------------
    async def __call__(self, x: Any) -> Any:
        return await self.call(x)

    async def call(self, x: Any) -> Any:
        """``f(x)``, or the surrogate's answer where it is trusted (module docstring)."""
        xv = self._checked_x(x)
        i = self._calls
        self._calls += 1
        serving = self._serving
        u = tau = None
        predicted = await self._predict(serving, xv)
        if predicted is not None:
            mean, std = predicted
            if self._y_shape is not None and mean[0].shape != self._y_shape:
                raise SpecError(f"Surrogate {self.name!r}: the model predicts shape "
                                f"{mean[0].shape}, the function returns {self._y_shape}")
            u = float(self.policy.uncertainty(mean[0], std[0]))
            tau = float(self.policy.threshold())
            if u < tau:
                audited = bool(self.policy.audit())
                task = None
                if audited:
                    fut = self._submit(xv, audit=True)
                    task = fut.task_id
                    answer = mean[0]
                    fut.add_done_callback(lambda f: self._audited(i, answer, xv, f))
                self._log.write(Call(t=self.session.time(), call=i, decision="surrogate",
                                     uncertainty=u, threshold=tau, version=serving.version,
                                     audited=audited, task=task))
                return _out(mean[0])
        fut = self._submit(xv, audit=False)
        self._log.write(Call(t=self.session.time(), call=i, decision="real", uncertainty=u,
                             threshold=tau, version=serving.version, task=fut.task_id))
        y = self._checked_y(await fut)
        self._stored(xv, y)
        return _out(y)

    async def _predict(self, serving: _Serving, x: Array) -> tuple[Array, Array] | None:
        """``(mean, std)`` of the version serving, for one ``x`` (``None``: no version yet,
        or its prediction task failed)."""
        if serving.model is not None:
            return checked_prediction(serving.model, serving.model.predict(x[None, :]), 1)
        s = self.serve
        if s is None or serving.path is None:
            return None
        kind = f"{self.name}-infer"
        opts: TaskOptions = {"name": kind, "kind": kind, "cores": s.cores, "gpus": s.gpus,
                             "priority": s.priority}
        if s.pool is not None:
            opts["pool"] = s.pool
        try:
            got = await self.session.submit(infer, serving.path, x, **opts)
        except Exception as e:           # the call goes to the real function instead
            log.warning("surrogate %r: a prediction task failed (%s); the call runs the real "
                        "function", self.name, _first(e))
            return None
        return checked_prediction(self.model, got, 1)

    def _submit(self, x: Array, *, audit: bool) -> TaskFuture:
        kind = f"{self.name}-audit" if audit else f"{self.name}-real"
        opts = self._audit_options if audit else self._options
        return self.session.submit(self.fn, x, name=kind, kind=kind, **opts)

    def _checked_x(self, x: Any) -> Array:
        try:
            xv = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise SpecError(f"Surrogate {self.name!r}: x must be a 1-D float array, got "
                            f"{type(x).__name__}") from None
        if xv.ndim != 1 or xv.size == 0:
            raise SpecError(f"Surrogate {self.name!r}: x must be a 1-D float array (one input "
                            f"vector), got shape {xv.shape}")
        if self.dim is None:
            self.dim = len(xv)
        elif len(xv) != self.dim:
            raise SpecError(f"Surrogate {self.name!r}: x has {len(xv)} values, expected "
                            f"{self.dim} (the shape of every input must be ({self.dim},))")
        if not np.all(np.isfinite(xv)):
            raise SpecError(f"Surrogate {self.name!r}: x holds NaN or infinite values")
        return xv

    def _checked_y(self, y: Any) -> Array:
        label = getattr(self.fn, "__qualname__", repr(self.fn))
        try:
            yv = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise SpecError(f"Surrogate {self.name!r}: {label} returned {type(y).__name__}; "
                            "it must return a number or a 1-D float array") from None
        if yv.ndim > 1 or not np.all(np.isfinite(yv)):
            raise SpecError(f"Surrogate {self.name!r}: {label} returned shape {yv.shape} or "
                            "non-finite values; it must return a finite number or 1-D array")
        if self._y_shape is None:
            self._y_shape = yv.shape
        elif yv.shape != self._y_shape:
            raise SpecError(f"Surrogate {self.name!r}: {label} returned shape {yv.shape} after "
                            f"{self._y_shape}")
        return yv

    # -- audits, data and retraining -------------------------------------------------------
    def _audited(self, call: int, answer: Array, x: Array, fut: TaskFuture) -> None:
        now = self.session.time()
        error = fut.exception()
        try:
            if error is not None:
                raise error
            y = self._checked_y(fut.result())
        except Exception as e:          # a done-callback: nothing may escape into the driver
            self._log.write(AuditFailed(t=now, call=call, task=fut.task_id, reason=_first(e)))
            log.warning("surrogate %r: the audit of call %d failed: %s", self.name, call, e)
            return
        err = float(self.policy.error(answer, y))
        self.policy.observe(err)
        self._errors.append(err)
        self._log.write(Audit(t=now, call=call, error=err,
                              threshold=float(self.policy.threshold()), task=fut.task_id))
        self._stored(x, y)
        window = sum(self._errors) / len(self._errors)
        if self.retraining.on_error and window > self.policy.bound.value:
            self._maybe_retrain("error")

    def _stored(self, x: Array, y: Array) -> None:
        self.store.add(x, y)
        self._new_pairs += 1
        self._maybe_retrain("data")

    def _maybe_retrain(self, trigger: str) -> None:
        r = self.retraining
        if len(self.store) < r.min_pairs or self._new_pairs == 0:
            return
        if trigger == "data" and self._serving.version > 0 and self._new_pairs < r.every:
            return
        if self._training is not None:
            self._pending = self._pending or trigger
            return
        if self._serving.version == 0:
            trigger = "first"
        X, y = self.store.arrays()
        version = self._next_version
        self._next_version += 1
        self._new_pairs = 0
        kind = f"{self.name}-retrain"
        opts: TaskOptions = {"name": kind, "kind": kind, "cores": r.cores, "gpus": r.gpus,
                             "priority": r.priority}
        if r.pool is not None:
            opts["pool"] = r.pool
        fut = self.session.submit(retrain, self.model, X, y, str(self.models_dir), version,
                                  **opts)
        self._training = fut
        self._log.write(Retrain(t=self.session.time(), version=version, pairs=len(X),
                                trigger=trigger, task=fut.task_id))
        fut.add_done_callback(self._trained)

    def _trained(self, fut: TaskFuture) -> None:
        self._training = None
        now = self.session.time()
        error = fut.exception()
        try:
            if error is not None:
                raise error
            made: ModelVersion = fut.result()
            model = None if self.serve is not None else load_version(made.path)
        except Exception as e:          # a done-callback: nothing may escape into the driver
            self._log.write(RetrainFailed(t=now, version=self._next_version - 1,
                                          task=fut.task_id, reason=_first(e)))
            log.warning("surrogate %r: retraining failed; version %d keeps serving: %s",
                        self.name, self._serving.version, e)
        else:
            if made.version > self._serving.version:
                self._serving = _Serving(made.version, model, made.path)
                self._errors.clear()     # the window measured the version before
                self._log.write(Swap(t=now, version=made.version, pairs=made.pairs,
                                     fit_seconds=made.fit_seconds, path=made.path))
        pending, self._pending = self._pending, None
        if pending is not None:
            self._maybe_retrain(pending)
        self._swapped.set()


def _out(y: Array) -> Any:
    return float(y) if y.ndim == 0 else np.array(y)


def _default_model(seed: int) -> Model:
    from tandem.surrogate.gp import GPModel

    return GPModel(seed=seed)


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]
