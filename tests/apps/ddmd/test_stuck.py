"""The stuck-lineage tracker, and a real async campaign that ends stuck segments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem_apps.ddmd.stuck import Progress
from tandem_apps.ddmd.types import SegmentResult


def _seg(min_rmsd: float, max_fnc: float) -> SegmentResult:
    return SegmentResult(lineage=0, segment=0, dcd="d", h5="h", topology="t", frames=5,
                         min_rmsd=min_rmsd, final_rmsd=min_rmsd, max_fnc=max_fnc,
                         ns_per_day=1.0, platform="CPU", threads=1, started_from="initial")


def test_progress_in_rmsd_or_native_contacts_resets_the_count() -> None:
    p = Progress()
    assert p.update(_seg(8.0, 0.1), 0.1, 0.02)          # the first segment is progress
    assert not p.update(_seg(7.95, 0.11), 0.1, 0.02)    # too small in both
    assert not p.update(_seg(8.5, 0.0), 0.1, 0.02)
    assert p.stuck(2) and not p.stuck(3)
    assert p.update(_seg(9.0, 0.2), 0.1, 0.02)          # new native contacts count
    assert p.stalled == 0
    assert not p.update(_seg(8.0, 0.2), 0.1, 0.02)
    assert p.update(_seg(7.8, 0.2), 0.1, 0.02)          # best RMSD 7.95 -> 7.8
    p.stalled = 5
    p.restarted()
    assert not p.stuck(1)


@pytest.mark.slow
def test_async_campaign_ends_stuck_segments_and_restarts_them(tmp_path: Path) -> None:
    pytest.importorskip("openmm")
    pytest.importorskip("torch")
    from tandem.trace.records import load_trace
    from tandem_apps.ddmd.main import main

    cfg = tmp_path / "ddmd.yaml"
    # Nothing counts as progress, so the lineage is stuck once its second segment ends. Its
    # later segments continue its own trajectory while the long first training runs (they may
    # run 5 rounds ahead); the one running when round 0's outliers arrive is ended and
    # restarted from one of them. Any training time from ~1 to ~4 segments shows it.
    cfg.write_text("simulations: 1\niterations: 6\ncores: 2\nmodes: [async]\nbaseline: false\n"
                   "max_staleness: 5\nmd: {segment_ps: 15.0, report_interval_ps: 1.0}\n"
                   "training: {epochs: 1, initial_epochs: 200, batch_size: 8}\n"
                   "agent: {n_neighbors: 3}\n"
                   "stuck: {enabled: true, segments: 1, min_rmsd_gain: 100, min_fnc_gain: 2}\n")
    assert main(["--config", str(cfg), "--run-dir", str(tmp_path / "run")]) == 0
    s = json.loads((tmp_path / "run" / "summary.json").read_text())["runs"]["async"]
    ended = s["stuck_segments_ended"]
    assert ended and all("stuck" in e["why"] for e in ended)
    assert s["segments"] == 6            # every segment still ran to the end, once
    assert s["restarts_used"] >= 1
    trace = load_trace(tmp_path / "run" / "async")
    cancelled = [t for t in trace.tasks if t.state == "cancelled"]
    assert len(cancelled) == len(ended)
    assert all(t.kind == "simulation" and "stuck" in (t.failure or {}).get("message", "")
               for t in cancelled)
    # each end is a steering action in the trace: who decided what, when
    steers = [st for st in trace.steering if st.action == "cancel"]
    assert len(steers) == len(ended)
    assert all(st.by == "stuck-lineage policy" and "stuck" in st.reason for st in steers)
