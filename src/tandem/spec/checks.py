"""The checks every input goes through: integers, counts and seconds.

Contract: pure functions. Each raises :class:`SpecError` with
``where`` (the owner: ``"task 'md'"``, ``"Node 'n0'"``, ``"preempt"``) and ``key`` in its
message, so the user knows what to fix; ``bool`` is never taken for a number.
Imports: tandem.errors.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from tandem.errors import SpecError


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an ``int`` (and not a ``bool``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is an ``int`` or ``float`` that is not NaN (and not a ``bool``)."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and not (isinstance(value, float) and math.isnan(value))


def check_int(where: str, key: str, value: object, *, minimum: int | None = None) -> int:
    """``value`` as an integer, else :class:`SpecError`; with ``minimum``, at least that."""
    if not is_int(value):
        raise SpecError(f"{where}: {key} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{where}: {key} must be >= {minimum}, got {value}")
    return value


def check_count(where: str, key: str, value: object) -> int:
    """``value`` as an integer >= 0."""
    return check_int(where, key, value, minimum=0)


def check_seconds(where: str, key: str, value: object, *, positive: bool = False) -> float:
    """``value`` as a number of seconds >= 0 (> 0 with ``positive``)."""
    if not is_number(value):
        raise SpecError(f"{where}: {key} must be a number of seconds, got {value!r}")
    if positive and not value > 0:
        raise SpecError(f"{where}: {key} must be > 0 seconds, got {value}")
    if value < 0:
        raise SpecError(f"{where}: {key} must be >= 0 seconds, got {value}")
    return float(value)
