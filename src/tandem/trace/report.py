"""``tandem report``: one self-contained HTML page about a run, optionally beside another.

Contract: :func:`write_report` reads one or two run directories (runtime or simulator, same
trace schema), writes one HTML file and, on request, PNG figures (:mod:`tandem.trace.figures`).
Page assembly (:func:`render_html`) is pure. Every number comes from
:func:`tandem.trace.metrics.summarize` over all tasks; only the drawing is aggregated
(:mod:`tandem.trace.timeline`), and the page says when it was.

- The page works offline: plotly.js is inlined from plotly's own offline bundle, the figure data
  are inline JSON, nothing is fetched. The metrics are also embedded as JSON
  (``<script id="tandem-metrics" type="application/json">``) for programs.
- Comparison (``--compare OTHER``): OTHER is the *reference*. For each quantity the page shows
  this run, the reference, ``this - reference`` and ``(this - reference) / reference``. The
  improvement is ``I = (T_ref - T_this) / T_ref`` (positive: this run is faster; the paper's
  ``I = 1 - T_async / T_seq`` when this run is asynchronous and the reference stage-synchronous).
  When one run is simulated (a prediction) and the other measured, a *prediction error*
  column adds ``(predicted - measured) / measured`` whichever way round they were given.
Imports: tandem.errors, tandem.trace.figures, tandem.trace.metrics, tandem.trace.records,
tandem.trace.report_page, tandem.trace.surrogates, tandem.trace.timeline, tandem.version.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import SpecError
from tandem.trace.figures import STEER_LINES, kind_colours, write_pngs
from tandem.trace.metrics import Stats, TraceMetrics, summarize
from tandem.trace.records import TraceRun, load_trace
from tandem.trace.report_page import PAGE_CSS, PAGE_JS, curve_data, plotly_js, timeline_data
from tandem.trace.surrogates import load_surrogates, surrogates_html
from tandem.trace.timeline import Curve, Timeline, curve, mean_of, timeline
from tandem.version import __version__

REPORT_FILE = "report.html"
PNG_DIR = "report"
PATH_SHOWN = 20
_RES = {"cores": "cores", "gpus": "GPUs"}


@dataclass(frozen=True, slots=True)
class RunView:
    """One run as the report shows it."""

    label: str
    run: TraceRun
    metrics: TraceMetrics
    timeline: Timeline
    curves: tuple[Curve, ...]

    @property
    def simulated(self) -> bool:
        """A simulator's trace (its clock and epoch start at 0), not a measured run."""
        return self.run.epoch == 0.0 and self.run.t0 == 0.0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the comparison table; ``None`` where a run has no such quantity."""

    quantity: str
    this: float | None
    ref: float | None
    unit: str

    @property
    def diff(self) -> float | None:
        return None if self.this is None or self.ref is None else self.this - self.ref

    @property
    def rel(self) -> float | None:
        d = self.diff
        return None if d is None or not self.ref else d / self.ref


def improvement(t_this: float, t_ref: float) -> float | None:
    """``I = (T_ref - T_this) / T_ref``; None when the reference makespan is 0."""
    return (t_ref - t_this) / t_ref if t_ref > 0 else None


def load_view(run_dir: str | Path, *, what: str = "run directory") -> RunView:
    """Read and summarise one run; a missing path is a :class:`SpecError` naming it."""
    p = Path(run_dir)
    if not p.exists():
        raise SpecError(f"{p}: no such {what}")
    run = load_trace(p)
    m = summarize(run)
    tl = timeline(run)
    curves = tuple(curve(run, r, origin=tl.origin, span=m.makespan) for r in ("cores", "gpus"))
    label = run.path.parent.name or str(run.path.parent)
    return RunView(label, run, m, tl, curves)


def comparison(this: RunView, ref: RunView) -> tuple[Row, ...]:
    """The comparison table: makespan, utilisation, latencies and per-kind numbers."""
    a, b = this.metrics, ref.metrics
    rows = [Row("makespan", a.makespan, b.makespan, "s"),
            Row("tasks", a.tasks, b.tasks, ""), Row("tasks that ran", a.ran, b.ran, "")]
    for res in ("cores", "gpus"):
        if getattr(this.run, f"total_{res}") or getattr(ref.run, f"total_{res}"):
            rows.append(Row(f"utilisation of {_RES[res]}", a.utilisation.get(res),
                            b.utilisation.get(res), "%"))
    for name in ("scheduling", "launch", "completion"):
        sa, sb = getattr(a, f"{name}_latency"), getattr(b, f"{name}_latency")
        rows.append(Row(f"{name} latency, median", sa.median if sa.count else None,
                        sb.median if sb.count else None, "s"))
    ka, kb = {k.kind: k for k in a.kinds}, {k.kind: k for k in b.kinds}
    for kind in sorted(set(ka) | set(kb)):
        x, y = ka.get(kind), kb.get(kind)
        rows.append(Row(f"{kind}: tasks", x.count if x else None, y.count if y else None, ""))
        rows.append(Row(f"{kind}: mean duration",
                        x.duration.mean if x and x.duration.count else None,
                        y.duration.mean if y and y.duration.count else None, "s"))
    return tuple(rows)


def fmt_seconds(x: float) -> str:
    """Seconds as the page prints them."""
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.1f}"
    return f"{x:.3f}" if ax >= 1 else f"{x:.4f}"


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "%":
        return f"{x:.1%}"
    if unit == "s":
        return fmt_seconds(x) + " s"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.3f}"


def _signed(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "%":
        return f"{x * 100:+.1f} pp"
    if unit == "s":
        return ("+" if x >= 0 else "-") + fmt_seconds(abs(x)) + " s"
    return f"{x:+,.0f}" if float(x).is_integer() else f"{x:+,.3f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:+.1%}"


def _e(x: object) -> str:
    return html.escape(str(x))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table of HTML cells (the caller escapes what it puts in them)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{thead}<tbody>{body}</tbody></table>'


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {_e(s)}" for s, n in states.items()) or "—"


def _overview(v: RunView) -> str:
    m, run = v.metrics, v.run
    u = ", ".join(f"{_RES[res]} {m.utilisation.get(res, 0.0):.1%}" for res in ("cores", "gpus")
                  if getattr(run, f"total_{res}"))
    rows = [("trace", _e(run.path)),
            ("source", "simulator (a prediction)" if v.simulated else "measured run"),
            ("makespan", f"{fmt_seconds(m.makespan)} s (first start to last end)"),
            ("platform", _e(run.platform.describe()) + f" — {run.total_cores:,} cores, "
                                                       f"{run.total_gpus:,} GPUs"),
            ("policy", _e(run.policy or "—")),
            *([("pools at start", _e("; ".join(f"{p.name}: {p.cores:,} cores, {p.gpus:,} GPUs"
                                               for p in run.pools)))] if run.pools else []),
            ("tasks", f"{m.tasks:,} ({_states(m.states)}); {m.ran:,} ran"),
            ("utilisation", u or "—"), ("peak concurrency", f"{m.peak_concurrency:,} tasks")]
    by = sorted(Counter(t.by for t in run.tasks).items(), key=lambda x: (-x[1], x[0]))
    if {who for who, _ in by} - {"user"}:
        rows.append(("submitted by", _e(", ".join(f"{who} {n:,}" for who, n in by))))
    if run.closed is None:
        rows.append(("trace closed", "no: the run crashed or is still going"))
    return _table(("", ""), [(f"<b>{k}</b>", val) for k, val in rows], "kv")


def _stats_cells(s: Stats) -> list[str]:
    return [f"{s.count:,}", *(fmt_seconds(x) for x in (s.mean, s.median, s.p95, s.max))]


def _kinds(v: RunView, colours: dict[str, str]) -> str:
    rows = []
    for k in v.metrics.kinds:
        u = v.metrics.utilisation_by_kind.get(k.kind, {})
        sw = f'<span class="sw" style="background:{colours[k.kind]}"></span>'
        rows.append([sw + _e(k.kind), f"{k.count:,}", _states(k.states),
                     *_stats_cells(k.duration), f"{u.get('cores', 0.0):.1%}",
                     f"{u.get('gpus', 0.0):.1%}"])
    return _table(("kind", "tasks", "states", "ran", "mean (s)", "median (s)", "p95 (s)",
                   "max (s)", "U cores", "U GPUs"), rows, "num")


def _latencies(m: TraceMetrics) -> str:
    rows = [[name, how, *_stats_cells(s)] for name, how, s in (
        ("scheduling", "ready → launched", m.scheduling_latency),
        ("launch", "launched → started", m.launch_latency),
        ("completion", "submitted → ended", m.completion_latency))]
    return _table(("latency", "from → to", "tasks", "mean (s)", "median (s)", "p95 (s)",
                   "max (s)"), rows, "num")


def _critical(m: TraceMetrics) -> str:
    cp = m.critical_path
    names = [_e(n) for n in cp.names]
    if len(names) > 2 * PATH_SHOWN:
        hidden = len(names) - 2 * PATH_SHOWN
        names = [*names[:PATH_SHOWN], f"<i>… {hidden:,} more tasks …</i>", *names[-PATH_SHOWN:]]
    return (f"<p>{len(cp.ids):,} tasks, {fmt_seconds(cp.length)} s from the first one's start "
            f"to the last one's end: {' → '.join(names) or '—'}</p>")


def _drawn_note(v: RunView) -> str:
    tl, m = v.timeline, v.metrics
    text = (f"{v.label}: {tl.tasks_drawn:,} tasks that ran ({tl.pieces:,} task-on-core/GPU "
            f"pieces) drawn as {len(tl.bars):,} bars")
    if tl.resolution > 0:
        text += (f": on each lane, bars closer than {tl.resolution:.3g} s (one pixel of "
                 f"{fmt_seconds(tl.span)} s at 2,000 px, doubled until at most 50,000 bars) "
                 "were merged when of the same kind and mark, or when both were shorter than "
                 "that (drawn grey, 'several kinds')")
    else:
        text += ", one per task per core and GPU it held; nothing merged"
    if tl.lanes_per_group > 1:
        text += (f"; lanes grouped {tl.lanes_per_group} to 1 (a bar: at least one unit of the "
                 "group busy)")
    if tl.steering_total:
        text += f"; {tl.steering_total:,} steering actions marked"
        if tl.steering_total > len(tl.steering):
            text += f" (the first {len(tl.steering):,} drawn)"
    never = m.tasks - tl.tasks_drawn
    if never:
        text += (f". {never:,} task never ran and has no bar" if never == 1 else
                 f". {never:,} tasks never ran and have no bar")
    return f'<p class="note">{_e(text)}.</p>'


def _curve_note(v: RunView) -> str:
    parts = []
    for c in v.curves:
        if not c.capacity:
            continue
        how = (f"time-weighted means over {len(c.t):,} bins of {c.bin_width:.3g} s"
               if c.bin_width else f"exact ({len(c.t):,} steps)")
        parts.append(f"{_RES[c.resource]}: busy / {c.capacity:,}, {how}, mean {mean_of(c):.1%}")
    return f'<p class="note">{_e(v.label)} — {_e("; ".join(parts) or "no resources")}.</p>'


def _metrics_json(v: RunView) -> dict[str, Any]:
    d = dataclasses.asdict(v.metrics)
    d.pop("concurrency")
    return {"label": v.label, "trace": str(v.run.path), "simulated": v.simulated, **d}


def _json(x: Any) -> str:
    return json.dumps(x, separators=(",", ":")).replace("</", "<\\/")


def _comparison_html(this: RunView, ref: RunView) -> tuple[str, dict[str, Any]]:
    rows = comparison(this, ref)
    imp = improvement(this.metrics.makespan, ref.metrics.makespan)
    sims = (this.simulated, ref.simulated)
    pred_col = sims[0] != sims[1]
    head = ["quantity", f"this: {_e(this.label)}", f"reference: {_e(ref.label)}",
            "this &minus; reference",
            "(this &minus; reference) / reference"]
    if pred_col:
        head.append("prediction error (predicted &minus; measured) / measured")
    body = []
    for r in rows:
        cells = [_e(r.quantity), _fmt(r.this, r.unit), _fmt(r.ref, r.unit),
                 _signed(r.diff, r.unit), _pct(r.rel)]
        if pred_col:
            rel = r.rel if this.simulated else (
                None if r.this is None or r.ref is None or not r.this
                else (r.ref - r.this) / r.this)
            cells.append(_pct(rel))
        body.append(cells)
    kind = "predicted vs measured" if pred_col else "two runs"
    text = (f"<p><b>{_e(kind)}</b>: this run is <code>{_e(this.run.path)}</code>, the "
            f"<b>reference</b> is <code>{_e(ref.run.path)}</code>. Makespan "
            f"T<sub>this</sub> = {fmt_seconds(this.metrics.makespan)} s, T<sub>ref</sub> = "
            f"{fmt_seconds(ref.metrics.makespan)} s; improvement <b>I = (T<sub>ref</sub> &minus; "
            f"T<sub>this</sub>) / T<sub>ref</sub> = {_pct(imp)}</b> (positive: this run is "
            "faster than the reference). Relative differences are (this &minus; reference) / "
            "reference; utilisation differences are also given in percentage points (pp).")
    if pred_col:
        text += (" The prediction error column is (predicted &minus; measured) / measured, with "
                 f"<code>{_e((this if this.simulated else ref).label)}</code> the prediction.")
    data = {"improvement": imp, "rows": [
        {"quantity": r.quantity, "this": r.this, "reference": r.ref, "diff": r.diff,
         "rel": r.rel} for r in rows]}
    return text + "</p>" + _table(head, body, "num"), data


def _data_html(run: TraceRun) -> str:
    """The section on results kept by reference (empty when the run kept none)."""
    if not run.data:
        return ""
    per: dict[str, list[int]] = {}      # node -> [kept, peak, held at the end]
    for d in run.data:
        row = per.setdefault(d.node, [0, 0, 0])
        row[0] += d.change > 0
        row[1] = max(row[1], d.held)
        row[2] = d.held
    rows = [(_e(node), str(k), f"{peak / 1e6:.1f}", f"{end / 1e6:.1f}")
            for node, (k, peak, end) in sorted(per.items())]
    return ("<h2>Data kept by reference</h2><p class=\"note\">Function results kept in a "
            "node's shared memory and passed to their dependents by reference: how many, and "
            "the most each node held at once (MB; a segment counts from its task's end until "
            "nothing needs it).</p>" + _table(("node", "results kept", "peak held (MB)",
                                               "held at the end (MB)"), rows, "num"))


def _run_section(v: RunView, colours: dict[str, str], tag: str) -> str:
    return (f'<section><h3>{_e(tag)}{_e(v.label)}</h3>{_overview(v)}'
            f"<h4>Per kind</h4>{_kinds(v, colours)}<h4>Latencies</h4>{_latencies(v.metrics)}"
            f"<h4>Executed critical path</h4>{_critical(v.metrics)}</section>")


def render_html(this: RunView, ref: RunView | None = None) -> str:
    """The whole page (see the module docstring)."""
    views = [this] if ref is None else [this, ref]
    colours = kind_colours([k for v in views for k in v.timeline.kinds])
    title = f"tandem report: {this.label}" + (f" vs {ref.label}" if ref else "")
    metrics: dict[str, Any] = {"this": _metrics_json(this)}
    parts = [f"<h1>{_e(title)}</h1>"]
    if ref is not None:
        comp, metrics["comparison"] = _comparison_html(this, ref)
        metrics["reference"] = _metrics_json(ref)
        parts.append(f"<h2>Comparison</h2>{comp}")
    tags = ["", ""] if ref is None else ["this: ", "reference: "]
    parts.append('<h2>Runs</h2><div class="runs">' + "".join(
        _run_section(v, colours, t) for v, t in zip(views, tags, strict=False)) + "</div>")
    parts.append(surrogates_html(load_surrogates(this.run.path.parent)))
    parts.append(_data_html(this.run))
    parts.append("<h2>Timeline</h2><p class=\"note\">One lane per core (<code>node:cN</code>) "
                 "and per GPU (<code>node:gN</code>); bars coloured by kind; failed tasks "
                 "outlined red, cancelled ones black and dashed. Steering actions (cancel, "
                 "pause, resume, preempt, priority, pool moves) are dotted vertical lines with a "
                 "marker on top: hover it for who decided what, when. Time counts from each "
                 "run's first task start; drag to zoom (the time axes follow each other).</p>")
    for i, v in enumerate(views):
        parts.append(_drawn_note(v) + f'<div id="timeline{i}" class="chart"></div>')
    parts.append("<h2>Utilisation</h2><p class=\"note\">Busy cores and GPUs over capacity."
                 "</p>" + "".join(_curve_note(v) for v in views) +
                 '<div id="utilisation" class="chart"></div>')
    data = {"timelines": [timeline_data(v.label, v.timeline, colours) for v in views],
            "curves": [c for i, v in enumerate(views) for c in curve_data(v.label, i, v.curves)],
            "xmax": max(v.timeline.span for v in views), "steerLines": STEER_LINES}
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
            f"<style>{PAGE_CSS}</style><script>{plotly_js()}</script></head><body>"
            + "".join(parts)
            + f'<p class="note">tandem {_e(__version__)}.</p>'
            f'<script id="tandem-metrics" type="application/json">{_json(metrics)}</script>'
            f'<script id="tandem-figures" type="application/json">{_json(data)}</script>'
            f"<script>{PAGE_JS}</script></body></html>")


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_report` wrote."""

    html: Path
    pngs: tuple[Path, ...]
    views: tuple[RunView, ...]


def write_report(run_dir: str | Path, *, compare: str | Path | None = None,
                 out: str | Path | None = None, png: bool = False) -> Written:
    """Write the HTML report of ``run_dir`` (default ``run_dir/report.html``), beside the
    reference ``compare`` if given, and with ``png`` the figures in ``run_dir/report/``."""
    this = load_view(run_dir)
    ref = load_view(compare, what="run directory to compare with") if compare else None
    if ref is not None and ref.label == this.label:     # runs/a/run vs runs/b/run
        this, ref = (dataclasses.replace(v, label=str(Path(*v.run.path.parts[-3:-1])))
                     for v in (this, ref))
    target = Path(out) if out is not None else this.run.path.parent / REPORT_FILE
    try:
        target.write_text(render_html(this, ref), encoding="utf-8")
    except OSError as e:
        raise SpecError(f"{target}: cannot write the report: {e}") from None
    views = (this,) if ref is None else (this, ref)
    pngs: tuple[Path, ...] = ()
    if png:
        pngs = tuple(write_pngs(this.run.path.parent / PNG_DIR,
                                [(v.label, v.timeline, v.curves) for v in views]))
    return Written(target, pngs, views)
