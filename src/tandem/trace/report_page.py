"""The figures of the HTML report: the data they are drawn from, the script that draws them,
plotly.js itself (inlined from plotly's offline bundle) and the page's style sheet.

Contract: pure functions from :mod:`tandem.trace.timeline` values to JSON-ready data, constants,
and one cached read of the bundle that ships with the ``plotly`` package; nothing here touches
the network, and the page fetches nothing (no CDN, no MathJax, no fonts).
:mod:`tandem.trace.report` embeds the data as ``#tandem-figures``:

- ``timelines``: per run ``{title, lanes, gpu0, groups, marks, steer}``, a group per (kind,
  mark) with parallel arrays ``x0``, ``x1``, ``lane``, ``n`` (pieces per bar) and ``names`` (or
  null when there are too many bars to hover); each group is one filled polygon trace.
  ``steer``: steering actions (``t``, ``action``, ``text``), drawn as a dotted vertical line
  each (up to ``figures.STEER_LINES``) and a marker above the lanes whose hover text says who
  decided what, when.
- ``curves``: ``{run, i, resource, t, v}`` step functions; ``xmax``: the common time axis.

When every chart is drawn the script sets ``data-rendered="yes"`` on ``<body>``; a script
error shows in a red box at the top of the page and sets ``data-rendered="error"``.
Imports: tandem.errors, tandem.trace.figures, tandem.trace.timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from tandem.errors import TandemInternalError
from tandem.trace.figures import MARK_STYLE, STEER_COLOURS
from tandem.trace.timeline import Curve, Timeline

HOVER_LIMIT = 5_000

PAGE_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;
max-width:1500px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:15px}h4{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;margin:4px 0 10px}td,th{border:1px solid #ddd;padding:3px 8px}
th{background:#f4f4f4;text-align:left}table.num td{text-align:right}
table.num td:first-child{text-align:left}table.kv td:first-child{white-space:nowrap}
.runs{display:grid;grid-template-columns:repeat(auto-fit,minmax(700px,1fr));gap:20px}
.runs section{overflow-x:auto}
.note{color:#555;font-size:13px}.chart{width:100%;min-height:240px}
.sw{display:inline-block;width:11px;height:11px;margin-right:6px;vertical-align:-1px}
.err{background:#fdd;border:1px solid #d62728;padding:8px}
code{font-size:12px}
"""

PAGE_JS = r"""
(function () {
  "use strict";
  function fail(e) {
    const box = document.createElement("pre");
    box.className = "err";
    box.textContent = "the figures could not be drawn: " + e;
    document.body.prepend(box);
    document.body.dataset.rendered = "error";
  }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  try {
    const data = JSON.parse(document.getElementById("tandem-figures").textContent);
    const cfg = {responsive: true, displaylogo: false,
                 modeBarButtonsToRemove: ["select2d", "lasso2d"]};
    const xr = [0, data.xmax || 1];
    const axis = {title: {text: "time since the first task began (s)"}, range: xr.slice(),
                  zeroline: false};
    const charts = [], drawn = [];

    data.timelines.forEach(function (d, k) {
      const traces = [], seen = new Set();
      d.groups.forEach(function (g) {
        const x = [], y = [];
        for (let i = 0; i < g.x0.length; i++) {
          const a = g.x0[i], b = g.x1[i], l = g.lane[i];
          x.push(a, b, b, a, a, null);
          y.push(l - 0.4, l - 0.4, l + 0.4, l + 0.4, l - 0.4, null);
        }
        traces.push({type: "scatter", mode: "lines", x: x, y: y, fill: "toself",
                     fillcolor: g.color, line: {width: 0.5, color: g.color}, name: g.kind,
                     legendgroup: g.kind, showlegend: !seen.has(g.kind), hoverinfo: "name",
                     hoveron: "fills", legendrank: 1});
        seen.add(g.kind);
        if (g.mark) {
          const m = d.marks[g.mark];
          traces.push({type: "scatter", mode: "lines", x: x, y: y, name: g.mark,
                       legendgroup: "mark:" + g.mark, showlegend: !seen.has("mark:" + g.mark),
                       line: {color: m.color, width: 2, dash: m.dash}, hoverinfo: "skip",
                       legendrank: 2});
          seen.add("mark:" + g.mark);
        }
        if (g.names) {
          const text = g.x0.map(function (a, i) {
            const who = g.names[i] ? esc(g.names[i]) : g.n[i] + " pieces merged";
            return who + " · " + esc(g.kind) + (g.mark ? " · " + g.mark : "") + "<br>" +
                   a + " → " + g.x1[i] + " s on " + esc(d.lanes[g.lane[i]]);
          });
          traces.push({type: "scatter", mode: "markers", showlegend: false,
                       x: g.x0.map(function (a, i) { return (a + g.x1[i]) / 2; }), y: g.lane,
                       marker: {size: 8, opacity: 0}, text: text, hoverinfo: "text",
                       legendgroup: g.kind});
        }
      });
      const n = d.lanes.length, step = Math.max(1, Math.ceil(n / 40)), tv = [];
      for (let i = 0; i < n; i += step) tv.push(i);
      const shapes = d.gpu0 ? [{type: "line", xref: "paper", x0: 0, x1: 1, y0: d.gpu0 - 0.5,
                                y1: d.gpu0 - 0.5, line: {color: "#444", width: 1}}] : [];
      const st = d.steer;
      if (st && st.t.length) {
        if (st.t.length <= data.steerLines) {
          st.t.forEach(function (t, i) {
            shapes.push({type: "line", x0: t, x1: t, yref: "paper", y0: 0, y1: 1,
                         line: {color: st.color[i], width: 1, dash: "dot"}});
          });
        }
        traces.push({type: "scatter", mode: "markers", x: st.t,
                     y: st.t.map(function () { return -0.5; }), name: "steering",
                     marker: {symbol: "triangle-down", size: 10, color: st.color},
                     text: st.text.map(esc), hoverinfo: "text", legendrank: 3,
                     cliponaxis: false});
      }
      const div = document.getElementById("timeline" + k);
      charts.push(div);
      drawn.push(Plotly.newPlot(div, traces, {
        title: {text: esc(d.title), x: 0, font: {size: 14}},
        height: Math.min(1100, Math.max(260, 120 + 14 * n)),
        margin: {l: 120, r: 20, t: 50, b: 45}, xaxis: Object.assign({}, axis),
        yaxis: {range: [n - 0.5, -0.5], tickvals: tv, ticktext: tv.map(function (i) {
          return esc(d.lanes[i]); }), zeroline: false, showgrid: false},
        shapes: shapes, hovermode: "closest",
        legend: {orientation: "h", x: 1, xanchor: "right", y: 1.0, yanchor: "bottom"}
      }, cfg));
    });

    const colours = {cores: "#1f77b4", gpus: "#2ca02c"}, dashes = ["solid", "dash"];
    const several = data.timelines.length > 1;
    const util = document.getElementById("utilisation");
    charts.push(util);
    drawn.push(Plotly.newPlot(util, data.curves.map(function (c) {
      return {type: "scatter", mode: "lines", x: c.t, y: c.v, name:
              (several ? esc(c.run) + ": " : "") + (c.resource === "gpus" ? "GPUs" : "cores"),
              line: {shape: "hv", width: 1.5, color: colours[c.resource], dash: dashes[c.i]}};
    }), {height: 340, margin: {l: 60, r: 20, t: 30, b: 45}, xaxis: Object.assign({}, axis),
         yaxis: {title: {text: "busy share"}, range: [0, 1.05], tickformat: ".0%"},
         legend: {orientation: "h", x: 0, xanchor: "left", y: 1.0, yanchor: "bottom"}},
       cfg));

    let syncing = false;
    charts.forEach(function (div) {
      div.on("plotly_relayout", function (ev) {
        if (syncing) return;
        let range = null;
        const lo = ev["xaxis.range[0]"], hi = ev["xaxis.range[1]"];
        if (lo !== undefined) range = [lo, hi];
        else if (ev["xaxis.range"]) range = ev["xaxis.range"];
        else if (ev["xaxis.autorange"]) range = xr.slice();
        if (!range) return;
        syncing = true;
        Promise.all(charts.filter(function (o) { return o !== div; }).map(function (o) {
          return Plotly.relayout(o, {"xaxis.range": range.slice()});
        })).finally(function () { syncing = false; });
      });
    });
    Promise.all(drawn).then(function () { document.body.dataset.rendered = "yes"; }, fail);
  } catch (e) {
    fail(e);
  }
})();
"""


@cache
def plotly_js() -> str:
    """plotly.js, minified, from the ``plotly`` package (several MB; read once)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    js = str(get_plotlyjs())
    if "</script" in js.lower():
        raise TandemInternalError("the plotly.js bundle contains '</script': cannot inline it")
    return js


def _rnd(span: float) -> int:
    """Decimals that keep about six significant digits of times up to ``span``."""
    return max(0, 6 - len(str(int(span))))


def timeline_data(label: str, tl: Timeline, colours: dict[str, str]) -> dict[str, Any]:
    """What the script draws of one timeline: a group of bars per (kind, mark)."""
    nd = _rnd(tl.span)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    hover = len(tl.bars) <= HOVER_LIMIT
    for b in tl.bars:
        g = groups.get((b.kind, b.mark))
        if g is None:
            g = groups[(b.kind, b.mark)] = {"kind": b.kind, "mark": b.mark,
                                            "color": colours.get(b.kind, "#9e9e9e"),
                                            "x0": [], "x1": [], "lane": [], "n": [],
                                            "names": [] if hover else None}
        g["x0"].append(round(b.start, nd))
        g["x1"].append(round(b.end, nd))
        g["lane"].append(b.lane)
        g["n"].append(b.pieces)
        if hover:
            g["names"].append(b.label)
    steer = {"t": [round(m.t, nd) for m in tl.steering],
             "action": [m.action for m in tl.steering],
             "color": [STEER_COLOURS.get(m.action, "#444") for m in tl.steering],
             "text": [m.text for m in tl.steering]}
    return {"title": label, "lanes": [lane.label for lane in tl.lanes],
            "gpu0": next((i for i, lane in enumerate(tl.lanes) if lane.resource == "gpus"),
                         None), "steer": steer,
            "groups": sorted(groups.values(), key=lambda g: (g["kind"], g["mark"])),
            "marks": {m: {"color": c, "dash": "solid" if s == "solid" else "dash"}
                      for m, (c, s) in MARK_STYLE.items()}}


def curve_data(label: str, i: int, curves: Sequence[Curve]) -> list[dict[str, Any]]:
    """What the script draws of run ``i``'s utilisation curves (resources it has)."""
    return [{"run": label, "i": i, "resource": c.resource,
             "t": [round(t, _rnd(c.span)) for t in (*c.t, c.span)],
             "v": [round(x, 5) for x in (*c.value, c.value[-1])]}
            for c in curves if c.capacity]
