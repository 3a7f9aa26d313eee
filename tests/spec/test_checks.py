from __future__ import annotations

import math

import pytest

from tandem.errors import SpecError
from tandem.spec.checks import check_count, check_int, check_seconds, is_int, is_number


def test_bool_is_never_a_number() -> None:
    assert not is_int(True)
    assert not is_number(False)
    assert is_int(3) and is_number(3) and is_number(2.5)
    assert not is_number(math.nan) and not is_number("1")


def test_check_int_names_where_and_key() -> None:
    assert check_int("task 'md'", "priority", 7) == 7
    with pytest.raises(SpecError, match=r"task 'md': priority must be an integer, got 1.5"):
        check_int("task 'md'", "priority", 1.5)
    with pytest.raises(SpecError, match=r"Node 'n0': cores must be >= 1, got 0"):
        check_int("Node 'n0'", "cores", 0, minimum=1)


def test_check_count_refuses_negatives() -> None:
    assert check_count("agent 'a'", "limit", 0) == 0
    with pytest.raises(SpecError, match=">= 0, got -1"):
        check_count("agent 'a'", "limit", -1)


def test_check_seconds() -> None:
    assert check_seconds("preempt", "grace", 2) == 2.0
    assert isinstance(check_seconds("preempt", "grace", 2), float)
    with pytest.raises(SpecError, match="grace must be a number of seconds, got True"):
        check_seconds("preempt", "grace", True)
    with pytest.raises(SpecError, match="must be >= 0 seconds, got -1"):
        check_seconds("preempt", "grace", -1)
    with pytest.raises(SpecError, match="timeout must be > 0 seconds, got 0"):
        check_seconds("task 'x'", "timeout", 0, positive=True)
