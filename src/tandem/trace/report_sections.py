"""The report's sections about one run: its overview, per kind, latencies, critical path,
the results it kept by reference, and how its figures were drawn.

Contract: pure functions from a :class:`RunView` (one run as the report shows it) to HTML;
every number is the run's :class:`~tandem.trace.metrics.TraceMetrics`. The page's small
pieces live here too: :func:`escape`, :func:`table` and :func:`fmt_seconds`, which
:mod:`tandem.trace.report_compare` and :mod:`tandem.trace.report` use.
Imports: tandem.trace.metrics, tandem.trace.records, tandem.trace.timeline.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tandem.trace.metrics import Stats, TraceMetrics
from tandem.trace.records import TraceRun
from tandem.trace.timeline import Curve, Timeline, mean_of

PATH_SHOWN = 20
"""Tasks of the critical path named at each end; those between are counted."""
RESOURCES = {"cores": "cores", "gpus": "GPUs"}
"""What the page calls each resource."""


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


def fmt_seconds(x: float) -> str:
    """Seconds as the page prints them."""
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.1f}"
    return f"{x:.3f}" if ax >= 1 else f"{x:.4f}"


def escape(x: object) -> str:
    """``x`` as text of the page."""
    return html.escape(str(x))


def table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table of HTML cells (the caller escapes what it puts in them)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{thead}<tbody>{body}</tbody></table>'


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {escape(s)}" for s, n in states.items()) or "—"


def run_section(v: RunView, colours: dict[str, str], tag: str) -> str:
    """One run's section: overview, per kind, latencies, critical path (``tag`` before its
    label: this run or the reference)."""
    return (f'<section><h3>{escape(tag)}{escape(v.label)}</h3>{_overview(v)}'
            f"<h4>Per kind</h4>{_kinds(v, colours)}<h4>Latencies</h4>{_latencies(v.metrics)}"
            f"<h4>Executed critical path</h4>{_critical(v.metrics)}</section>")


def _overview(v: RunView) -> str:
    m, run = v.metrics, v.run
    u = ", ".join(f"{RESOURCES[res]} {m.utilisation.get(res, 0.0):.1%}"
                  for res in ("cores", "gpus") if getattr(run, f"total_{res}"))
    rows = [("trace", escape(run.path)),
            ("source", "simulator (a prediction)" if v.simulated else "measured run"),
            ("makespan", f"{fmt_seconds(m.makespan)} s (first start to last end)"),
            ("platform", escape(run.platform.describe()) + f" — {run.total_cores:,} cores, "
                                                           f"{run.total_gpus:,} GPUs"),
            ("policy", escape(run.policy or "—")),
            *([("pools at start", escape("; ".join(
                f"{p.name}: {p.cores:,} cores, {p.gpus:,} GPUs" for p in run.pools)))]
              if run.pools else []),
            ("tasks", f"{m.tasks:,} ({_states(m.states)}); {m.ran:,} ran"),
            ("utilisation", u or "—"), ("peak concurrency", f"{m.peak_concurrency:,} tasks")]
    by = sorted(Counter(t.by for t in run.tasks).items(), key=lambda x: (-x[1], x[0]))
    if {who for who, _ in by} - {"user"}:
        rows.append(("submitted by", escape(", ".join(f"{who} {n:,}" for who, n in by))))
    if run.closed is None:
        rows.append(("trace closed", "no: the run crashed or is still going"))
    return table(("", ""), [(f"<b>{k}</b>", val) for k, val in rows], "kv")


def _stats_cells(s: Stats) -> list[str]:
    return [f"{s.count:,}", *(fmt_seconds(x) for x in (s.mean, s.median, s.p95, s.max))]


def _kinds(v: RunView, colours: dict[str, str]) -> str:
    rows = []
    for k in v.metrics.kinds:
        u = v.metrics.utilisation_by_kind.get(k.kind, {})
        sw = f'<span class="sw" style="background:{colours[k.kind]}"></span>'
        rows.append([sw + escape(k.kind), f"{k.count:,}", _states(k.states),
                     *_stats_cells(k.duration), f"{u.get('cores', 0.0):.1%}",
                     f"{u.get('gpus', 0.0):.1%}"])
    return table(("kind", "tasks", "states", "ran", "mean (s)", "median (s)", "p95 (s)",
                  "max (s)", "U cores", "U GPUs"), rows, "num")


def _latencies(m: TraceMetrics) -> str:
    rows = [[name, how, *_stats_cells(s)] for name, how, s in (
        ("scheduling", "ready → launched", m.scheduling_latency),
        ("launch", "launched → started", m.launch_latency),
        ("completion", "submitted → ended", m.completion_latency))]
    return table(("latency", "from → to", "tasks", "mean (s)", "median (s)", "p95 (s)",
                  "max (s)"), rows, "num")


def _critical(m: TraceMetrics) -> str:
    cp = m.critical_path
    names = [escape(n) for n in cp.names]
    if len(names) > 2 * PATH_SHOWN:
        hidden = len(names) - 2 * PATH_SHOWN
        names = [*names[:PATH_SHOWN], f"<i>… {hidden:,} more tasks …</i>", *names[-PATH_SHOWN:]]
    return (f"<p>{len(cp.ids):,} tasks, {fmt_seconds(cp.length)} s from the first one's start "
            f"to the last one's end: {' → '.join(names) or '—'}</p>")


def drawn_note(v: RunView) -> str:
    """How the run's timeline was drawn: bars, merges, grouped lanes, steering marks."""
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
    return f'<p class="note">{escape(text)}.</p>'


def curve_note(v: RunView) -> str:
    """How the run's utilisation curves were computed, and their means."""
    parts = []
    for c in v.curves:
        if not c.capacity:
            continue
        how = (f"time-weighted means over {len(c.t):,} bins of {c.bin_width:.3g} s"
               if c.bin_width else f"exact ({len(c.t):,} steps)")
        parts.append(f"{RESOURCES[c.resource]}: busy / {c.capacity:,}, {how}, "
                     f"mean {mean_of(c):.1%}")
    return f'<p class="note">{escape(v.label)} — {escape("; ".join(parts) or "no resources")}.</p>'


def data_html(run: TraceRun) -> str:
    """The section on results kept by reference (empty when the run kept none)."""
    if not run.data:
        return ""
    per: dict[str, list[int]] = {}      # node -> [kept, peak, held at the end]
    for d in run.data:
        row = per.setdefault(d.node, [0, 0, 0])
        row[0] += d.change > 0
        row[1] = max(row[1], d.held)
        row[2] = d.held
    rows = [(escape(node), str(k), f"{peak / 1e6:.1f}", f"{end / 1e6:.1f}")
            for node, (k, peak, end) in sorted(per.items())]
    return ("<h2>Data kept by reference</h2><p class=\"note\">Function results kept in a "
            "node's shared memory and passed to their dependents by reference: how many, and "
            "the most each node held at once (MB; a segment counts from its task's end until "
            "nothing needs it).</p>" + table(("node", "results kept", "peak held (MB)",
                                              "held at the end (MB)"), rows, "num"))
