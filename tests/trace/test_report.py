"""``tandem report``: a self-contained page whose numbers are summarize()'s, comparisons,
aggregation that keeps every task counted, PNG figures, and errors that name the path."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tandem import Instrument, Session, TaskFuture
from tandem.cli import main
from tandem.core.actions import Launch
from tandem.core.states import TaskState
from tandem.runtime.open import open_session
from tandem.sim import simulate_to_run_dir
from tandem.spec import Mock, Platform, Resources, TaskSpec
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tandem.trace.metrics import summarize
from tandem.trace.records import TracedSlot, TracedTask, TraceRun, load_trace
from tandem.trace.report import render_html, write_report
from tandem.trace.report_compare import improvement
from tandem.trace.report_sections import fmt_seconds
from tandem.trace.timeline import MIXED, curve, mean_of, merge_lane, timeline

KINDS = {"simulation", "training", "inference"}


async def _launched(session: Session, fut: TaskFuture) -> None:
    """Wait until the core has launched ``fut`` (an event, not a poll)."""
    launched = asyncio.Event()

    class Watch(Instrument):
        def task_launched(self, launch: Launch, now: float) -> None:
            if launch.task_id == fut.task_id:
                launched.set()

    remove = session.add_instrument(Watch())
    try:
        if fut.state in (TaskState.PENDING, TaskState.READY):
            await launched.wait()
    finally:
        remove()


async def _with_failures(run_dir: Path) -> None:
    async with open_session(Platform.uniform(1, cores=2, gpus=1), run_dir=run_dir) as s:
        sim = [s.submit_spec(TaskSpec(name=f"sim-{i}", kind="simulation",
                                      work=Mock(seconds=0.04))) for i in range(3)]
        slow = s.submit_spec(TaskSpec(name="slow", kind="simulation", work=Mock(seconds=5),
                                      timeout=0.05))
        train = s.submit_spec(TaskSpec(name="train", kind="training", work=Mock(seconds=0.04),
                                       resources=Resources(cores=1, gpus=1)), after=sim)
        hung = s.submit_spec(TaskSpec(name="hung", kind="inference", work=Mock(seconds=5),
                                      resources=Resources(cores=1)), after=[train])
        s.submit_spec(TaskSpec(name="never", kind="inference", work=Mock(seconds=0.01)),
                      after=[slow])
        await _launched(s, hung)
        s.cancel(hung, "the test cancels it")
        for f in (*sim, train):
            await f


def real_run_with_failures(d: Path) -> Path:
    """A real session: 3 simulations, a timed-out one, training, a cancelled running
    inference and an inference that never ran (its dependency failed)."""
    asyncio.run(asyncio.wait_for(_with_failures(d), 60))
    return d


def simulated_run(d: Path, scale: float = 1.5) -> Path:
    """A simulator's run of the same shape (the prediction to compare with)."""
    wf = Workflow(name="shape", platform=Platform.uniform(1, cores=2, gpus=1), task_sets=(
        TaskSet(name="sim", count=3, kind="simulation", duration=Duration(mean=0.04 * scale)),
        TaskSet(name="train", kind="training", resources=Resources(cores=1, gpus=1),
                duration=Duration(mean=0.04 * scale), depends_on=("sim",)),
        TaskSet(name="infer", kind="inference", duration=Duration(mean=0.05 * scale),
                depends_on=("train",))))
    simulate_to_run_dir(wf, d)
    return d


@pytest.fixture(scope="module")
def failed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_run_with_failures(tmp_path_factory.mktemp("failures"))


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_run(tmp_path_factory.mktemp("predicted"))


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data")]


def _embedded(page: str, name: str) -> Any:
    m = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_page_is_self_contained_and_shows_every_kind(failed_dir: Path, tmp_path: Path) -> None:
    page = write_report(failed_dir, out=tmp_path / "r.html").html.read_text()
    refs = _Refs()
    refs.feed(page)
    assert not [r for r in refs.refs if re.match(r"\s*(https?:)?//", r)], refs.refs
    assert "link" not in refs.tags and "iframe" not in refs.tags
    assert "Plotly.newPlot" in page and len(page) > 1_000_000       # plotly.js is inlined
    figures = _embedded(page, "tandem-figures")
    drawn = {g["kind"] for g in figures["timelines"][0]["groups"]}
    assert drawn == {"simulation", "training", "inference"}
    assert {g["mark"] for g in figures["timelines"][0]["groups"]} == {"", "failed", "cancelled"}
    for kind in KINDS:
        assert f"{kind}</td>" in page
    assert "node0:c0" in figures["timelines"][0]["lanes"]
    assert "node0:g0" in figures["timelines"][0]["lanes"]
    assert "1 task never ran and has no bar" in page


def test_numbers_are_summarize(failed_dir: Path, tmp_path: Path) -> None:
    run = load_trace(failed_dir)
    m = summarize(run)
    page = write_report(failed_dir, out=tmp_path / "r.html").html.read_text()
    doc = _embedded(page, "tandem-metrics")["this"]
    assert doc["tasks"] == m.tasks == 7 and doc["ran"] == m.ran == 6
    assert doc["states"] == m.states == {"cancelled": 1, "dependency_failed": 1, "done": 4,
                                         "timed_out": 1}
    assert doc["makespan"] == m.makespan
    assert doc["utilisation"] == m.utilisation
    assert doc["critical_path"]["names"] == list(m.critical_path.names)
    assert [k["kind"] for k in doc["kinds"]] == [k.kind for k in m.kinds]
    assert f"{fmt_seconds(m.makespan)} s (first start to last end)" in page
    for k in m.kinds:
        row = re.search(rf"{k.kind}</td><td>{k.count:,}</td>.*?</tr>", page)
        assert row is not None
        assert f"<td>{fmt_seconds(k.duration.mean)}</td><td>{fmt_seconds(k.duration.median)}" \
               in row.group(0)
        assert f"<td>{fmt_seconds(k.duration.p95)}</td>" in row.group(0)
    med = fmt_seconds(m.scheduling_latency.median)
    assert re.search(rf"scheduling</td><td>ready → launched</td><td>\d+</td><td>[^<]+</td>"
                     rf"<td>{re.escape(med)}</td>", page)
    assert " → ".join(m.critical_path.names) in page


def test_compare_shows_both_makespans_and_improvement(
        failed_dir: Path, sim_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.html"
    assert main(["report", str(failed_dir), "--compare", str(sim_dir), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text()
    t_this = summarize(load_trace(failed_dir)).makespan
    t_ref = summarize(load_trace(sim_dir)).makespan
    imp = improvement(t_this, t_ref)
    assert imp is not None and imp == pytest.approx((t_ref - t_this) / t_ref)
    assert f"T<sub>this</sub> = {fmt_seconds(t_this)} s" in page
    assert f"T<sub>ref</sub> = {fmt_seconds(t_ref)} s" in page
    assert f"= {imp:+.1%}</b>" in page
    doc = _embedded(page, "tandem-metrics")
    assert doc["comparison"]["improvement"] == pytest.approx(imp)
    assert doc["reference"]["simulated"] is True and doc["this"]["simulated"] is False
    rows = {r["quantity"]: r for r in doc["comparison"]["rows"]}
    assert rows["makespan"]["rel"] == pytest.approx((t_this - t_ref) / t_ref)
    assert "prediction error (predicted &minus; measured) / measured" in page
    # measured is "this": the prediction error of the makespan is (T_ref - T_this) / T_this
    assert f"{(t_ref - t_this) / t_this:+.1%}" in page
    for kind in KINDS:
        assert f"{kind}: mean duration" in rows
    assert len(_embedded(page, "tandem-figures")["timelines"]) == 2


def test_two_measured_runs_have_no_prediction_column(failed_dir: Path, run_dir: Path,
                                                     tmp_path: Path) -> None:
    page = write_report(run_dir, compare=failed_dir, out=tmp_path / "r.html").html.read_text()
    assert "two runs" in page and "prediction error" not in page


def test_pngs(failed_dir: Path, sim_dir: Path, tmp_path: Path) -> None:
    written = write_report(failed_dir, compare=sim_dir, out=tmp_path / "r.html", png=True)
    names = sorted(p.name for p in written.pngs)
    assert names == ["compare_timeline.png", "compare_utilisation.png", "timeline.png",
                     "utilisation.png"]
    for p in written.pngs:
        assert p.parent == failed_dir / "report"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000


def test_bad_input_names_the_path(tmp_path: Path, run_dir: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, named in ((["report", str(missing)], str(missing)),
                        (["report", str(empty)], str(empty / "trace.jsonl")),
                        (["report", str(run_dir), "--compare", str(empty)],
                         str(empty / "trace.jsonl")),
                        (["report", str(run_dir), "--compare", str(missing)], str(missing)),
                        (["report", str(run_dir), "-o", str(missing / "x" / "r.html")],
                         str(missing / "x" / "r.html"))):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("tandem: error: ") and named in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


def _task(i: int, kind: str, begin: float, end: float, core: int, state: str = "done"
          ) -> TracedTask:
    return TracedTask(id=i, name=f"t{i}", kind=kind, state=state, submitted=0.0, ready=begin,
                      launched=begin, started=begin, ended=end, attempts=1, deps=(), cores=1,
                      gpus=0, slots=(TracedSlot("n0", (core,), ()),), failure=None)


def _many(n: int, cores: int = 2) -> TraceRun:
    """``n`` tasks of 10 ms, back to back on each core, kinds cycling a, b, b, c."""
    kinds = ("a", "b", "b", "c")
    tasks = tuple(_task(i, kinds[i % 4], (i // cores) * 0.01, (i // cores) * 0.01 + 0.01,
                        i % cores, "failed" if i == 7 else "done") for i in range(n))
    return TraceRun(path=Path("/x/trace.jsonl"),
                    platform=Platform.uniform(1, cores=cores, prefix="n"), policy="fifo",
                    t0=0.0, epoch=0.0, tasks=tasks, closed=1.0)


def test_merge_rules() -> None:
    px = 0.1
    same = merge_lane(0, [(0.0, 1.0, "a", "", "x"), (1.05, 2.0, "a", "", "y")], px)
    assert [(b.start, b.end, b.pieces, b.label) for b in same] == [(0.0, 2.0, 2, "")]
    long = merge_lane(0, [(0.0, 1.0, "a", "", "x"), (1.0, 2.0, "b", "", "y")], px)
    assert [(b.kind, b.pieces, b.label) for b in long] == [("a", 1, "x"), ("b", 1, "y")]
    tiny = merge_lane(0, [(0.0, 0.01, "a", "", "x"), (0.02, 0.03, "b", "failed", "y"),
                          (0.5, 0.51, "a", "", "z")], px)
    assert [(b.kind, b.mark, b.pieces) for b in tiny] == [(MIXED, "failed", 2), ("a", "", 1)]
    far = merge_lane(0, [(0.0, 1.0, "a", "", "x"), (1.2, 2.0, "a", "", "y")], px)
    assert len(far) == 2
    assert len(merge_lane(0, [(0.0, 1.0, "a", "", "x"), (1.0, 2.0, "a", "", "y")], 0.0)) == 2


def test_aggregation_keeps_every_task_counted() -> None:
    run = _many(3000)
    tl = timeline(run, max_bars=200)
    assert tl.pieces == 3000 and tl.tasks_drawn == 3000
    assert sum(b.pieces for b in tl.bars) == 3000
    assert len(tl.bars) <= 200 and tl.resolution > 0 and tl.aggregated
    assert {b.mark for b in tl.bars} >= {"failed"}
    assert timeline(run).resolution == 0.0 and len(timeline(run).bars) == 3000
    page = render_html(_view(run))
    doc = _embedded(page, "tandem-metrics")["this"]
    assert doc["tasks"] == 3000
    assert {k["kind"]: k["count"] for k in doc["kinds"]} == {"a": 750, "b": 1500, "c": 750}
    assert ("synthetic: 3,000 tasks that ran (3,000 task-on-core/GPU pieces) drawn as 3,000 "
            "bars") in page


def test_lanes_grouped_above_the_limit() -> None:
    run = _many(400, cores=40)
    tl = timeline(run, max_lanes=10)
    assert len(tl.lanes) == 10 and tl.lanes_per_group == 4
    assert tl.lanes[0].label == "n0:c0…n0:c3" and len(tl.lanes[0].units) == 4
    assert sum(b.pieces for b in tl.bars) == 400


def test_curves_average_to_the_utilisation() -> None:
    run = _many(999, cores=3)
    m = summarize(run)
    tl = timeline(run)
    exact = curve(run, "cores", origin=tl.origin, span=m.makespan)
    binned = curve(run, "cores", origin=tl.origin, span=m.makespan, max_points=7)
    assert exact.bin_width == 0.0 and binned.bin_width > 0 and len(binned.t) == 7
    assert mean_of(exact) == pytest.approx(m.utilisation["cores"])
    assert mean_of(binned) == pytest.approx(m.utilisation["cores"])
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in binned.value)
    assert curve(run, "gpus", origin=tl.origin, span=m.makespan).capacity == 0


def _view(run: TraceRun) -> Any:
    from tandem.trace.report_sections import RunView

    m = summarize(run)
    tl = timeline(run)
    return RunView("synthetic", run, m, tl, tuple(
        curve(run, r, origin=tl.origin, span=m.makespan) for r in ("cores", "gpus")))


def test_a_run_where_nothing_ran(run_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    header = (run_dir / "trace.jsonl").read_text().splitlines()[0]
    (empty / "trace.jsonl").write_text(header + "\n")
    written = write_report(empty, compare=run_dir, png=True)
    page = written.html.read_text()
    assert written.html == empty / "report.html" and len(written.pngs) == 4
    assert _embedded(page, "tandem-metrics")["this"]["tasks"] == 0
    assert "0 tasks that ran (0 task-on-core/GPU pieces) drawn as 0 bars" in page
    assert _embedded(page, "tandem-metrics")["comparison"]["improvement"] is not None
