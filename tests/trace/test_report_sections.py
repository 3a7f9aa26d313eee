"""The report's sections about one run, on their own, from the trace of ``conftest.run_dir``."""

from __future__ import annotations

from pathlib import Path

from tandem.trace.report import load_view
from tandem.trace.report_sections import (
    curve_note,
    data_html,
    drawn_note,
    escape,
    fmt_seconds,
    run_section,
    table,
)


def test_numbers_and_cells() -> None:
    assert [fmt_seconds(x) for x in (0.01234, 1.5, 1234.56)] == ["0.0123", "1.500", "1,234.6"]
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"
    assert table(("h",), [("c",)], "num") == (
        '<table class="num"><thead><tr><th>h</th></tr></thead>'
        "<tbody><tr><td>c</td></tr></tbody></table>")
    assert "<thead>" not in table(("", ""), [("a", "b")])


def test_a_runs_sections(run_dir: Path) -> None:
    v = load_view(run_dir)
    colours = {k: "#000" for k in v.timeline.kinds}
    page = run_section(v, colours, "this: ")
    assert f"<h3>this: {escape(v.label)}</h3>" in page
    for heading in ("Per kind", "Latencies", "Executed critical path"):
        assert f"<h4>{heading}</h4>" in page
    assert "sim-a" in page or "sim-b" in page              # the critical path names its tasks
    assert f"{fmt_seconds(v.metrics.makespan)} s (first start to last end)" in page
    assert "4 tasks that ran" in drawn_note(v) and "nothing merged" in drawn_note(v)
    assert "cores: busy / 2" in curve_note(v)
    assert data_html(v.run) == ""                          # mock tasks keep no results
