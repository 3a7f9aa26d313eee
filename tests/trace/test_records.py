"""Reading a trace into typed values, and the errors on a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.errors import SpecError
from tandem.trace.records import TracedSlot, load_trace


def test_load_real_trace(run_dir: Path) -> None:
    run = load_trace(run_dir)
    assert [n.name for n in run.nodes] == ["node0"]
    assert run.total_cores == 2 and run.total_gpus == 1
    assert run.policy and run.epoch > 0 and run.closed is not None
    by_name = {t.name: t for t in run.tasks}
    assert set(by_name) == {"sim-a", "sim-b", "train", "infer"}
    train = by_name["train"]
    assert train.kind == "training" and train.state == "done" and train.failure is None
    assert set(train.deps) == {by_name["sim-a"].id, by_name["sim-b"].id}
    assert train.cores == 1 and train.gpus == 1 and train.attempts == 1
    assert train.slots == (TracedSlot("node0", train.slots[0].cores, ("0",)),)
    assert len(by_name["infer"].slots[0].cores) == 2
    for t in run.tasks:
        assert t.ready is not None and t.launched is not None and t.ended is not None
        assert t.submitted <= t.ready <= t.launched <= t.ended
        assert t.duration is not None and t.duration >= 0.04


def test_missing_trace(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no trace here"):
        load_trace(tmp_path)
    with pytest.raises(SpecError, match="nope"):
        load_trace(tmp_path / "nope")


def test_torn_last_line_skipped_bad_middle_line_named(run_dir: Path, tmp_path: Path) -> None:
    text = (run_dir / "trace.jsonl").read_text()
    torn = tmp_path / "torn.jsonl"
    torn.write_text(text + '{"ev": "end", "id": 9')
    assert len(load_trace(torn).tasks) == 4
    bad = tmp_path / "bad.jsonl"
    lines = text.splitlines()
    bad.write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(SpecError, match=r"bad\.jsonl:2"):
        load_trace(bad)
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(SpecError, match="no 'run' record"):
        load_trace(headless)
    missing_field = tmp_path / "field.jsonl"
    missing_field.write_text(lines[0] + '\n{"ev": "end", "id": 1}\n')
    with pytest.raises(SpecError, match=r"field\.jsonl:2: malformed"):
        load_trace(missing_field)
