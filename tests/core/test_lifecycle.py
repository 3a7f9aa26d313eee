"""The lifecycle as a transition function (tandem.core.lifecycle), and the docs' table."""

from __future__ import annotations

import re
from pathlib import Path

from tandem.core.lifecycle import (
    BY_CAUSE,
    END_CAUSE,
    END_STEP,
    LEGAL,
    NEXT,
    STEP,
    Cause,
    render_markdown,
)
from tandem.core.states import FINAL, STOPPED, TaskState

S, C = TaskState, Cause
DOCS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"


def test_every_state_and_every_cause_occurs() -> None:
    assert {old for old, _ in NEXT} | set(NEXT.values()) == set(TaskState)
    assert {c for _, c in NEXT} == set(Cause)
    assert {old for old, _ in NEXT} == set(TaskState) - FINAL    # final states have no way out
    assert {s for s in NEXT.values()} >= FINAL


def test_every_state_is_reachable_from_pending_and_every_live_one_can_end() -> None:
    reach, todo = {S.PENDING}, [S.PENDING]
    while todo:
        s = todo.pop()
        for (old, _), new in NEXT.items():
            if old is s and new not in reach:
                reach.add(new)
                todo.append(new)
    assert reach == set(TaskState)
    for s in set(TaskState) - FINAL:
        assert any(old is s and new in FINAL for (old, _), new in NEXT.items()), s


def test_the_rules_the_core_relies_on() -> None:
    for s in STOPPED:
        assert (s, C.TIMED_OUT) not in NEXT           # paused time never times out
        assert NEXT[(s, C.CANCELLED)] is S.CANCELLED   # a stopped process can still end
    assert NEXT[(S.RESUMING, C.PLACED)] is S.RUNNING
    assert NEXT[(S.SUSPENDED, C.RESUMED)] is S.RESUMING
    assert NEXT[(S.PAUSED, C.RESUMED)] is S.RUNNING
    assert NEXT[(S.RUNNING, C.RETRY)] is S.READY and NEXT[(S.RUNNING, C.PREEMPTED)] is S.READY
    assert (S.PENDING, C.PAUSED) not in NEXT
    assert {(old, new) for (old, _), new in NEXT.items()} == LEGAL


def test_the_docs_hold_exactly_the_rendered_table() -> None:
    text = DOCS.read_text()
    found = re.search(r"<!-- lifecycle:begin -->\n(.*?)<!-- lifecycle:end -->", text, re.S)
    assert found is not None, "docs/concepts.md has no lifecycle markers"
    assert found.group(1) == render_markdown()


def test_the_rendering_has_one_row_per_state_and_per_move() -> None:
    lines = render_markdown().splitlines()
    assert sum(1 for x in lines if x.startswith("| `")) == len(TaskState) + len(NEXT)


def test_the_lookups_derived_from_the_table_agree_with_it() -> None:
    assert {(old, c): new for c, moves in BY_CAUSE.items() for old, new in moves.items()} \
        == NEXT
    assert set(END_CAUSE) == FINAL
    for state, cause in END_CAUSE.items():
        assert all(NEXT[(old, c)] is state for (old, c) in NEXT if c is cause)


def test_the_rows_by_cause_are_total_and_agree_with_the_table() -> None:
    for c in Cause:
        assert set(STEP[c]) == set(TaskState)
        assert {old: new for old, new in STEP[c].items() if new is not None} == BY_CAUSE[c]
    for end, cause in END_CAUSE.items():
        assert END_STEP[end] is STEP[cause]
    # a task has an attempt to end (an Exited is legal) exactly where it may exit with a result
    assert {s for s in TaskState if STEP[C.EXITED_OK][s] is not None} \
        == {S.LAUNCHED, S.RUNNING} | STOPPED
