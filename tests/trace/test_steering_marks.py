"""Steering actions in the trace, on the report's timeline (who decided what, when)."""

from __future__ import annotations

from pathlib import Path

from tandem.trace.figures import kind_colours
from tandem.trace.records import TracedSteer, load_trace
from tandem.trace.report import load_view, render_html
from tandem.trace.report_page import timeline_data
from tandem.trace.timeline import timeline
from tests.trace.test_report import real_run_with_failures


def test_steering_actions_become_timeline_marks(tmp_path: Path) -> None:
    run = load_trace(real_run_with_failures(tmp_path / "run"))
    assert [(s.action, s.by, s.reason) for s in run.steering] == [
        ("cancel", "user", "the test cancels it")]
    tl = timeline(run)
    hung = next(t for t in run.tasks if t.name == "hung")
    (mark,) = tl.steering
    assert mark.action == "cancel" and tl.steering_total == 1
    assert abs(mark.t - (run.steering[0].t - tl.origin)) < 1e-9
    assert mark.text.endswith(f"user cancelled task {hung.id} (hung): the test cancels it")
    data = timeline_data("run", tl, kind_colours(list(tl.kinds)))
    assert data["steer"]["action"] == ["cancel"] and data["steer"]["text"] == [mark.text]
    page = render_html(load_view(tmp_path / "run"))
    assert "1 steering actions marked" in page


def test_describe_says_who_did_what() -> None:
    s = TracedSteer(t=1.0, action="move", task=None, by="balancer", reason="ml is behind",
                    details={"from": "md", "to": "ml", "cores": 2, "gpus": 0})
    assert s.describe() == "balancer moved quota (from=md, to=ml, cores=2, gpus=0): ml is behind"
