"""What the history knows of a task before it runs: the key of its "same work" and the
numbers its duration may depend on.

Contract: pure functions of a :class:`~tandem.spec.task.TaskSpec`, cheap enough to run at every
submission (nothing is pickled, nothing is hashed beyond a dictionary lookup).

- The **key** groups tasks that do the same work: a function's ``module.qualname``, an
  executable's program (``argv[0]``'s base name; ``sh`` for a shell command) or ``mock`` for a
  mock task, followed by ``@<set>`` when the task's name says more than that: ``<set>`` is the
  name without a trailing ``.<number>`` (``"sim.12"`` is of set ``"sim"``, as
  :meth:`Workflow.expand <tandem.spec.workflow.Workflow.expand>` names tasks).
- The **sizes** of its arguments (the first :data:`ARGS_SEEN` positional and keyword ones):
  ``len`` of a string, bytes or a container, ``nbytes`` of an array, the value of a number;
  other arguments (a dependency's future, an object) have none. Named ``arg0``, ``arg1``, ...
  and ``kw.<name>``.
- Its **inputs** to a model: the user's ``features``, the sizes, and the resource request
  (``cores``, ``gpus``, ``ranks``, ``memory_mb``).
Imports: tandem.spec.task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tandem.spec.task import Executable, FunctionCall, Mock, TaskSpec

ARGS_SEEN = 8
"""Positional (and keyword) arguments whose sizes are taken; the rest are not looked at."""

Inputs = dict[str, float | str]
"""A task's inputs to a duration model, by name."""

_MEMBER = re.compile(r"^(.+)\.(\d+)$")
_LEN = (str, bytes, bytearray, list, tuple, dict, set, frozenset)


def set_of(name: str) -> str:
    """The task set a task name belongs to (``"sim.12"`` -> ``"sim"``)."""
    m = _MEMBER.match(name)
    return m.group(1) if m else name


def work_of(spec: TaskSpec) -> str:
    """What the task runs: a function's ``module.qualname``, a program's name, ``mock``."""
    work = spec.work
    if type(work) is FunctionCall:
        fn: Any = work.fn
        target = getattr(fn, "func", fn)                  # functools.partial
        target = getattr(target, "__func__", target)      # bound method
        mod = getattr(target, "__module__", None) or "?"
        name = getattr(target, "__qualname__", None) or type(target).__qualname__
        return f"{mod}.{name}"
    if type(work) is Executable:
        return "sh" if work.shell else work.argv[0].rsplit("/", 1)[-1]
    assert type(work) is Mock
    return "mock"


def key_of(spec: TaskSpec) -> str:
    """The key of the task's "same work" (see the module docstring)."""
    what = work_of(spec)
    label = spec.work.label
    group = set_of(spec.name)
    if group in (label, what):
        return what
    return f"{what}@{group}"


def size_of(x: object) -> float | None:
    """An argument's size: ``len``, ``nbytes``, a number's value; ``None`` for anything else."""
    tp = type(x)
    if tp is int or tp is float:
        return float(x)  # type: ignore[arg-type]
    if tp in _LEN:
        return float(len(x))  # type: ignore[arg-type]
    if tp is not bool and getattr(tp, "nbytes", None) is not None:
        nbytes = getattr(x, "nbytes", None)
        if isinstance(nbytes, int):
            return float(nbytes)
    return None


def sizes_of(spec: TaskSpec) -> dict[str, float] | None:
    """The sizes of a function's arguments by name (``None``: none has one)."""
    work = spec.work
    if type(work) is not FunctionCall or not (work.args or work.kwargs):
        return None
    out: dict[str, float] = {}
    for i, a in enumerate(work.args[:ARGS_SEEN]):
        s = size_of(a)
        if s is not None:
            out[f"arg{i}"] = s
    if work.kwargs:
        for n, (k, v) in enumerate(work.kwargs.items()):
            if n == ARGS_SEEN:
                break
            s = size_of(v)
            if s is not None:
                out[f"kw.{k}"] = s
    return out or None


def inputs(features: Mapping[str, float | int | str] | None,
           sizes: Mapping[str, float] | None, cores: int, gpus: int, ranks: int,
           memory_mb: int | None) -> Inputs:
    """A task's inputs to a model (see the module docstring)."""
    out: Inputs = {"cores": float(cores), "gpus": float(gpus), "ranks": float(ranks)}
    if memory_mb is not None:
        out["memory_mb"] = float(memory_mb)
    if sizes:
        out.update(sizes)
    if features:
        for k, v in features.items():
            out[f"f.{k}"] = v if isinstance(v, str) else float(v)
    return out


def inputs_of(spec: TaskSpec) -> Inputs:
    """:func:`inputs` of a submission."""
    r = spec.resources
    return inputs(spec.features, sizes_of(spec), r.cores, r.gpus, r.ranks, r.memory_mb)


class KeyCache:
    """:func:`key_of`, remembered per function and name (a sweep's submissions share both)."""

    def __init__(self) -> None:
        self._fns: dict[tuple[int, str], tuple[object, str]] = {}

    def of(self, spec: TaskSpec) -> str:
        work = spec.work
        if type(work) is not FunctionCall:
            return key_of(spec)
        fn = work.fn
        hit = self._fns.get((id(fn), spec.name))
        if hit is not None and hit[0] is fn:
            return hit[1]
        if len(self._fns) > 4096:
            self._fns.clear()
        key = key_of(spec)
        self._fns[(id(fn), spec.name)] = (fn, key)
        return key
