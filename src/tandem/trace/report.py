"""``tandem report``: one self-contained HTML page about a run, optionally beside another.

Contract: :func:`write_report` reads one or two run directories (runtime or simulator, same
trace schema), writes one HTML file and, on request, PNG figures (:mod:`tandem.trace.figures`).
Page assembly (:func:`render_html`) is pure. Every number comes from
:func:`tandem.trace.metrics.summarize` over all tasks; only the drawing is aggregated
(:mod:`tandem.trace.timeline`), and the page says when it was.

- The page works offline: plotly.js is inlined from plotly's own offline bundle, the figure data
  are inline JSON, nothing is fetched. The metrics are also embedded as JSON
  (``<script id="tandem-metrics" type="application/json">``) for programs.
- The page: a comparison with the reference when one is given
  (:mod:`tandem.trace.report_compare`: ``--compare OTHER``, OTHER is the *reference*), each
  run's sections (:mod:`tandem.trace.report_sections`), the run's surrogates
  (:mod:`tandem.trace.surrogates`), the results it kept by reference, then the timelines and
  the utilisation curves (:mod:`tandem.trace.report_page` draws them).
Imports: tandem.errors, tandem.trace.figures, tandem.trace.metrics, tandem.trace.records,
tandem.trace.report_compare, tandem.trace.report_page, tandem.trace.report_sections,
tandem.trace.surrogates, tandem.trace.timeline, tandem.version.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import SpecError
from tandem.trace.figures import STEER_LINES, kind_colours, write_pngs
from tandem.trace.metrics import summarize
from tandem.trace.records import load_trace
from tandem.trace.report_compare import comparison_html
from tandem.trace.report_page import PAGE_CSS, PAGE_JS, curve_data, plotly_js, timeline_data
from tandem.trace.report_sections import (
    RunView,
    curve_note,
    data_html,
    drawn_note,
    escape,
    run_section,
)
from tandem.trace.surrogates import load_surrogates, surrogates_html
from tandem.trace.timeline import curve, timeline
from tandem.version import __version__

REPORT_FILE = "report.html"
PNG_DIR = "report"


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


def _metrics_json(v: RunView) -> dict[str, Any]:
    d = dataclasses.asdict(v.metrics)
    d.pop("concurrency")
    return {"label": v.label, "trace": str(v.run.path), "simulated": v.simulated, **d}


def _json(x: Any) -> str:
    return json.dumps(x, separators=(",", ":")).replace("</", "<\\/")


def render_html(this: RunView, ref: RunView | None = None) -> str:
    """The whole page (see the module docstring)."""
    views = [this] if ref is None else [this, ref]
    colours = kind_colours([k for v in views for k in v.timeline.kinds])
    title = f"tandem report: {this.label}" + (f" vs {ref.label}" if ref else "")
    metrics: dict[str, Any] = {"this": _metrics_json(this)}
    parts = [f"<h1>{escape(title)}</h1>"]
    if ref is not None:
        comp, metrics["comparison"] = comparison_html(this, ref)
        metrics["reference"] = _metrics_json(ref)
        parts.append(f"<h2>Comparison</h2>{comp}")
    tags = ["", ""] if ref is None else ["this: ", "reference: "]
    parts.append('<h2>Runs</h2><div class="runs">' + "".join(
        run_section(v, colours, t) for v, t in zip(views, tags, strict=False)) + "</div>")
    parts.append(surrogates_html(load_surrogates(this.run.path.parent)))
    parts.append(data_html(this.run))
    parts.append("<h2>Timeline</h2><p class=\"note\">One lane per core (<code>node:cN</code>) "
                 "and per GPU (<code>node:gN</code>); bars coloured by kind; failed tasks "
                 "outlined red, cancelled ones black and dashed. Steering actions (cancel, "
                 "pause, resume, preempt, priority, pool moves) are dotted vertical lines with a "
                 "marker on top: hover it for who decided what, when. Time counts from each "
                 "run's first task start; drag to zoom (the time axes follow each other).</p>")
    for i, v in enumerate(views):
        parts.append(drawn_note(v) + f'<div id="timeline{i}" class="chart"></div>')
    parts.append("<h2>Utilisation</h2><p class=\"note\">Busy cores and GPUs over capacity."
                 "</p>" + "".join(curve_note(v) for v in views) +
                 '<div id="utilisation" class="chart"></div>')
    data = {"timelines": [timeline_data(v.label, v.timeline, colours) for v in views],
            "curves": [c for i, v in enumerate(views) for c in curve_data(v.label, i, v.curves)],
            "xmax": max(v.timeline.span for v in views), "steerLines": STEER_LINES}
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{PAGE_CSS}</style><script>{plotly_js()}</script></head><body>"
            + "".join(parts)
            + f'<p class="note">tandem {escape(__version__)}.</p>'
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
