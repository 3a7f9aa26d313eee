"""The Perfetto / Chrome trace-event export."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tandem.errors import SpecError
from tandem.trace.perfetto import export_perfetto
from tandem.trace.records import load_trace


def test_export(run_dir: Path, tmp_path: Path) -> None:
    out = export_perfetto(run_dir, tmp_path / "p.json")
    doc = json.loads(out.read_text())
    events = doc["traceEvents"]
    run = load_trace(run_dir)
    xs = [e for e in events if e["ph"] == "X"]
    units = sum(len(s.cores) + len(s.gpus) for t in run.tasks for s in t.slots)
    assert len(xs) == units == 2 + 2 + 2
    assert {e["name"] for e in xs} == {"sim-a", "sim-b", "train", "infer"}
    for e in xs:
        assert e["ts"] >= 0 and e["dur"] >= 40_000     # microseconds; 0.05 s tasks
        assert set(e["args"]) == {"id", "kind", "state"} and e["args"]["state"] == "done"
    meta = [e for e in events if e["ph"] == "M"]
    procs = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta
               if e["name"] == "thread_name"}
    assert procs == {1: "node0"}
    assert sorted(threads.values()) == ["core 0", "core 1", "gpu 0"]
    train = [e for e in xs if e["name"] == "train"]
    assert sorted(threads[(e["pid"], e["tid"])].split()[0] for e in train) == ["core", "gpu"]
    # no two events overlap on one track: a slot holds one task at a time
    by_track: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in xs:
        by_track.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_track.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1 for a, b in itertools.pairwise(spans))


def test_default_output_path(run_dir: Path) -> None:
    out = export_perfetto(run_dir)
    assert out == run_dir / "trace.perfetto.json" and out.exists()


def test_export_missing_trace(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no trace here"):
        export_perfetto(tmp_path, tmp_path / "x.json")
