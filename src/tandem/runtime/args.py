"""Futures inside task arguments: find them (they are dependencies) and replace them by results.

Contract: pure functions over argument structures; imports ``tandem.runtime.future``. Futures
are found at any depth inside lists, tuples, sets, frozensets and dicts (values and keys); other
objects are passed through untouched. :func:`detached` is what the core keeps of a task's
arguments: its dependencies as :class:`Dep` marks, so a finished task the core still knows
does not keep its inputs' futures (and their kept results) alive.
Imports: tandem.runtime.future.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tandem.runtime.future import TaskFuture

_CONTAINERS = (list, tuple, dict, set, frozenset)
_ATOMS = frozenset({int, float, str, bytes, bool, type(None), complex})


def find_futures(values: Iterable[Any], found: list[TaskFuture]) -> None:
    """Append every :class:`TaskFuture` inside ``values`` to ``found``."""
    for v in values:
        tv = type(v)
        if tv in _ATOMS:
            continue
        if tv is TaskFuture:
            found.append(v)
        elif isinstance(v, dict):
            find_futures(v.keys(), found)
            find_futures(v.values(), found)
        elif isinstance(v, _CONTAINERS):
            find_futures(v, found)


@dataclass(frozen=True, slots=True)
class Dep:
    """Where a future stood in a task's arguments: the task it named."""

    task_id: int


def detached(value: Any) -> Any:
    """``value`` with every future replaced by a :class:`Dep` of its task."""
    return _replace(value, _dep)


def _dep(f: TaskFuture) -> Dep:
    return Dep(f.task_id)


def _passed(f: TaskFuture) -> Any:
    return f.passed()


def substitute(value: Any) -> Any:
    """``value`` with every future replaced by what it passes to dependents: its result, or the
    reference to a result kept on its node (the futures must all be done)."""
    return _replace(value, _passed)


def _replace(value: Any, by: Any) -> Any:
    tv = type(value)
    if tv in _ATOMS:
        return value
    if tv is TaskFuture:
        return by(value)
    if isinstance(value, dict):
        return type(value)((_replace(k, by), _replace(v, by)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):   # namedtuple
        return type(value)(*(_replace(v, by) for v in value))
    if isinstance(value, _CONTAINERS):
        return type(value)(_replace(v, by) for v in value)
    return value
