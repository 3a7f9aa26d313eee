"""Futures inside task arguments: find them (they are dependencies) and replace them by results.

Contract: pure functions over argument structures; imports ``tandem.runtime.future``. Futures
are found at any depth inside lists, tuples, sets, frozensets and dicts (values and keys); other
objects are passed through untouched.
Imports: tandem.runtime.future.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def substitute(value: Any) -> Any:
    """``value`` with every future replaced by its result (the futures must all be done)."""
    tv = type(value)
    if tv in _ATOMS:
        return value
    if tv is TaskFuture:
        return value.result()
    if isinstance(value, dict):
        return type(value)((substitute(k), substitute(v)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):   # namedtuple
        return type(value)(*(substitute(v) for v in value))
    if isinstance(value, _CONTAINERS):
        return type(value)(substitute(v) for v in value)
    return value
