"""The report's comparison on its own: rows, improvement and the prediction error column, from
the trace of ``conftest.run_dir`` (measured) and a simulator's run (a prediction)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.sim import simulate_to_run_dir
from tandem.spec import Platform, Resources
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tandem.trace.report import load_view
from tandem.trace.report_compare import Row, comparison, comparison_html, improvement


def test_improvement_and_row_differences() -> None:
    assert improvement(3.0, 4.0) == pytest.approx(0.25)
    assert improvement(3.0, 0.0) is None
    r = Row("makespan", 3.0, 4.0, "s")
    assert r.diff == pytest.approx(-1.0) and r.rel == pytest.approx(-0.25)
    assert Row("tasks", None, 4.0, "").diff is None
    assert Row("tasks", 2.0, 0.0, "").rel is None


def test_a_prediction_beside_a_measured_run(run_dir: Path, tmp_path: Path) -> None:
    wf = Workflow(name="shape", platform=Platform.uniform(1, cores=2, gpus=1), task_sets=(
        TaskSet(name="sim", count=2, kind="simulation", duration=Duration(mean=0.05)),
        TaskSet(name="train", kind="training", resources=Resources(cores=1, gpus=1),
                duration=Duration(mean=0.05), depends_on=("sim",))))
    simulate_to_run_dir(wf, tmp_path / "pred")
    measured, predicted = load_view(run_dir), load_view(tmp_path / "pred")
    rows = {r.quantity: r for r in comparison(measured, predicted)}
    assert rows["makespan"].this == measured.metrics.makespan
    assert rows["makespan"].ref == predicted.metrics.makespan
    assert rows["inference: tasks"].ref is None        # the prediction has no inference
    html, data = comparison_html(measured, predicted)
    assert "predicted vs measured" in html and "prediction error" in html
    assert data["improvement"] == improvement(measured.metrics.makespan,
                                              predicted.metrics.makespan)
    html, _ = comparison_html(measured, measured)
    assert "two runs" in html and "prediction error" not in html
