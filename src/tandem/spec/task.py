"""What a task is: a unit of work (a Python call or an executable) plus how to schedule it.

Contract: frozen values validated on construction; no I/O. Dependencies are not part of the
spec: the runtime derives them from futures in the arguments and ``after=``, and hands them to
the core beside the spec.
Imports: tandem.errors, tandem.spec.checks, tandem.spec.resources.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number
from tandem.spec.resources import ONE_CORE, Resources


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class FunctionCall:
    """Call ``fn(*args, **kwargs)`` in a warm worker process. ``fn`` may be sync or async; it is
    shipped with cloudpickle, so lambdas and closures work. ``ref``: keep the result on its node
    and pass it by reference (``True``), send it back by value (``False``), or decide by its
    size (``None``: the session's ``ref_above``; see docs/data.md)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    ref: bool | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise SpecError(f"FunctionCall: fn must be callable, got {self.fn!r}")
        if self.ref is not None and type(self.ref) is not bool:
            raise SpecError(f"FunctionCall {self.label}: ref must be True, False or None, "
                            f"got {self.ref!r}")

    @property
    def label(self) -> str:
        name = getattr(self.fn, "__qualname__", None) or getattr(self.fn, "__name__", None)
        return name if isinstance(name, str) else "function"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Executable:
    """Run ``argv`` as a process (no shell unless ``shell=True``, then ``argv`` is one command
    string for ``/bin/sh -c``). ``env`` is added to the inherited environment; ``cwd`` defaults
    to the task's own directory in the run directory."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    shell: bool = False

    def __post_init__(self) -> None:
        argv = self.argv
        if isinstance(argv, str):
            if not self.shell:
                raise SpecError(
                    f"Executable: argv must be a list of strings, got the string {argv!r} "
                    "(pass shell=True to run it through /bin/sh)"
                )
            argv = (argv,)
        argv = tuple(argv)
        if not argv:
            raise SpecError("Executable: argv is empty")
        for i, a in enumerate(argv):
            if not isinstance(a, str):
                raise SpecError(f"Executable: argv[{i}] must be a string, got {a!r}")
        if self.shell and len(argv) != 1:
            raise SpecError("Executable: with shell=True, argv must be one command string")
        object.__setattr__(self, "argv", argv)
        for k, v in self.env.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k or "=" in k:
                raise SpecError(f"Executable: env entry {k!r}={v!r} must map names to strings")

    @property
    def label(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if not self.shell else "sh"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mock:
    """A stand-in task that holds its placed slots for ``seconds`` and does nothing else (the
    papers' sleep tasks). Cores and GPUs may be logical slots: nothing is pinned."""

    seconds: float

    def __post_init__(self) -> None:
        s = self.seconds
        if not is_number(s) or s < 0:
            raise SpecError(f"Mock: seconds must be a number >= 0, got {s!r}")

    @property
    def label(self) -> str:
        return "mock"


Work = FunctionCall | Executable | Mock


def _check_seconds(name: str, key: str, value: float | None) -> None:
    if value is None:
        return
    if not is_number(value):
        raise SpecError(f"task {name!r}: {key} must be a number of seconds, got {value!r}")
    if value <= 0 and key == "timeout":
        raise SpecError(f"task {name!r}: timeout must be > 0 seconds, got {value}")
    if value < 0:
        raise SpecError(f"task {name!r}: {key} must be >= 0 seconds, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TaskSpec:
    """One task as the user asked for it.

    - ``name``: for people (need not be unique); ``kind``: a tag such as ``"simulation"``.
    - ``resources``: what it must be placed on. ``priority``: higher runs first.
    - ``timeout``: seconds of running before its process tree is ended.
    - ``estimate``: expected duration in seconds, used by critical-path ordering, backfill and
      the simulator. ``retries``: how many times a failed run is tried again.
    - ``pool``: the resource pool it draws on (see :mod:`tandem.spec.pools`); ``None`` is the
      default pool.
    - ``by``: who submitted it, a person (``"user"``) or an agent's name; the trace keeps it.
    - ``key``: its identity in the run directory's journal (``None``: derived from the task;
      see :mod:`tandem.journal.keys`); a re-run campaign skips a key that finished.
    - ``features``: what the user says of the task's size (``{"atoms": 20000, "model":
      "cvae"}``: names to numbers or strings; ``None``: nothing), kept in the history with
      its duration so that later runs learn its estimate from them (:mod:`tandem.history`).
    - ``estimate_from``: where ``estimate`` came from: ``"user"`` (given), or ``"learned"``
      (filled in by the session from the history of earlier runs).
    """

    name: str
    work: Work
    kind: str = "task"
    resources: Resources = ONE_CORE
    priority: int = 0
    timeout: float | None = None
    estimate: float | None = None
    retries: int = 0
    pool: str | None = None
    by: str = "user"
    key: str | None = None
    features: Mapping[str, float | int | str] | None = None
    estimate_from: str = "user"

    def __post_init__(self) -> None:
        # The usual submission (plain types, every optional field at its default) passes with
        # type identities alone; anything else takes the checks below, which say what is wrong.
        if type(self.name) is str and self.name and type(self.kind) is str and self.kind \
                and type(self.by) is str and self.by and type(self.work) in _WORK \
                and type(self.resources) is Resources and type(self.priority) is int \
                and type(self.retries) is int and self.retries >= 0 and self.key is None \
                and self.pool is None and self.timeout is None and self.estimate is None \
                and self.features is None and self.estimate_from == "user":
            return
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"task: name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.kind, str) or not self.kind:
            raise SpecError(f"task {self.name!r}: kind must be a non-empty string")
        if self.key is not None and (not isinstance(self.key, str) or not self.key
                                     or len(self.key) > 200):
            raise SpecError(f"task {self.name!r}: key must be a non-empty string of at most 200 "
                            f"characters, got {self.key!r}")
        if not isinstance(self.by, str) or not self.by:
            raise SpecError(f"task {self.name!r}: by (who submitted it) must be a non-empty "
                            f"string, got {self.by!r}")
        if not isinstance(self.work, FunctionCall | Executable | Mock):
            raise SpecError(
                f"task {self.name!r}: work must be a FunctionCall, an Executable or a Mock, "
                f"got {type(self.work).__name__}"
            )
        if not isinstance(self.resources, Resources):
            raise SpecError(
                f"task {self.name!r}: resources must be tandem.Resources, "
                f"got {type(self.resources).__name__}"
            )
        if not is_int(self.priority):
            raise SpecError(f"task {self.name!r}: priority must be an integer, "
                            f"got {self.priority!r}")
        if not is_int(self.retries) or self.retries < 0:
            raise SpecError(f"task {self.name!r}: retries must be an integer >= 0, "
                            f"got {self.retries!r}")
        if self.pool is not None and (not isinstance(self.pool, str) or not self.pool):
            raise SpecError(f"task {self.name!r}: pool must be a non-empty string, "
                            f"got {self.pool!r}")
        if self.timeout is not None or self.estimate is not None:
            _check_seconds(self.name, "timeout", self.timeout)
            _check_seconds(self.name, "estimate", self.estimate)
        if self.features is not None:
            object.__setattr__(self, "features", _checked_features(self.name, self.features))
        if self.estimate_from != "user" and self.estimate_from != "learned":
            raise SpecError(f"task {self.name!r}: estimate_from must be 'user' or 'learned', "
                            f"got {self.estimate_from!r}")


    def with_estimate(self, seconds: float, source: str) -> TaskSpec:
        """This spec with ``estimate=seconds`` from ``source`` (``"user"`` or ``"learned"``):
        a copy that checks only the two fields it changes (the rest were checked)."""
        _check_seconds(self.name, "estimate", seconds)
        if source != "user" and source != "learned":
            raise SpecError(f"task {self.name!r}: estimate_from must be 'user' or 'learned', "
                            f"got {source!r}")
        new = object.__new__(TaskSpec)
        for name in _FIELDS:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "estimate", seconds)
        object.__setattr__(new, "estimate_from", source)
        return new


    def with_work(self, work: FunctionCall) -> TaskSpec:
        """This spec with another call of the same function (its arguments changed): a copy
        that checks only that."""
        if type(work) is not FunctionCall or type(self.work) is not FunctionCall \
                or work.fn is not self.work.fn:
            raise SpecError(f"task {self.name!r}: with_work takes a call of the same function")
        new = object.__new__(TaskSpec)
        for name in _FIELDS:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "work", work)
        return new


_FIELDS = tuple(f.name for f in fields(TaskSpec))
_WORK = frozenset((FunctionCall, Executable, Mock))


def _checked_features(name: str, features: object) -> dict[str, float | int | str] | None:
    """A copy of ``features`` (``None`` when empty), each entry checked."""
    if not isinstance(features, Mapping):
        raise SpecError(f"task {name!r}: features must be a mapping of names to numbers or "
                        f"strings, got {type(features).__name__}")
    for k, v in features.items():
        if not isinstance(k, str) or not k:
            raise SpecError(f"task {name!r}: features: a name must be a non-empty string, "
                            f"got {k!r}")
        if not (isinstance(v, str) or (is_number(v) and math.isfinite(v))):
            raise SpecError(f"task {name!r}: features[{k!r}] must be a finite number or a "
                            f"string, got {v!r}")
    return dict(features) if features else None
