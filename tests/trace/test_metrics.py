"""Metrics of an executed run, from a real trace and from hand-made values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tandem.model.stats import quantile
from tandem.trace.metrics import critical_path, stats, summarize
from tandem.trace.records import TracedTask, load_trace


def test_summary_of_real_run(run_dir: Path) -> None:
    run = load_trace(run_dir)
    m = summarize(run)
    assert m.tasks == 4 and m.ran == 4 and m.states == {"done": 4}
    # three dependent levels of 0.05 s each: at least 0.15 s, and not wildly more
    assert 0.15 <= m.makespan < 2.0
    for r in ("cores", "gpus"):
        assert 0.0 < m.utilisation[r] <= 1.0
    by_kind = {k.kind: k for k in m.kinds}
    assert {k: v.count for k, v in by_kind.items()} == {
        "simulation": 2, "training": 1, "inference": 1}
    assert by_kind["simulation"].duration.median >= 0.04
    total = sum(u["cores"] for u in m.utilisation_by_kind.values())
    assert total == pytest.approx(m.utilisation["cores"])
    assert m.utilisation_by_kind["simulation"]["gpus"] == 0.0
    for st in (m.scheduling_latency, m.launch_latency, m.completion_latency):
        assert st.count == 4 and 0.0 <= st.median <= st.p95 <= st.max
    ids = {t.name: t.id for t in run.tasks}
    assert m.critical_path.names[-2:] == ("train", "infer")
    assert m.critical_path.names[0] in ("sim-a", "sim-b") and len(m.critical_path.ids) == 3
    assert m.critical_path.ids[-1] == ids["infer"]
    assert m.critical_path.length == pytest.approx(m.makespan, abs=0.06)
    assert m.peak_concurrency == 2 and m.concurrency[-1][1] == 0
    assert m.concurrency[0][0] == 0.0


def _t(i: int, begin: float, end: float, deps: tuple[int, ...] = ()) -> TracedTask:
    return TracedTask(id=i, name=f"t{i}", kind="k", state="done", submitted=0.0, ready=begin,
                      launched=begin, started=begin, ended=end, attempts=1, deps=deps,
                      cores=1, gpus=0, slots=(), failure=None)


def test_critical_path_follows_latest_dependency() -> None:
    tasks = [_t(0, 0, 1), _t(1, 0, 3), _t(2, 3, 4, (0, 1)), _t(3, 0, 2), _t(4, 4, 6, (2, 3))]
    cp = critical_path(tasks)
    assert cp.ids == (1, 2, 4) and cp.length == 6
    assert critical_path([]).ids == ()


def test_percentiles() -> None:
    assert math.isnan(quantile([], 0.5))
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    s = stats([float(x) for x in range(101)])
    assert (s.count, s.median, s.p95, s.max, s.mean) == (101, 50.0, 95.0, 100.0, 50.0)
