"""The surrogates of a run as the report shows them: read from the summaries they leave.

Contract: :func:`load_surrogates` reads every ``*.summary.json`` in a run directory whose
``schema`` is ``tandem.surrogate.summary/1`` (written by :mod:`tandem.surrogate` when its
session ends; other JSON files are left alone, and an unreadable one is skipped with a
warning) into :class:`SurrogateView` values; :func:`surrogates_html` renders them: per
surrogate its calls, surrogate share, audited mean and max error against the bound (met or
not), model versions and retrainings, the share per tenth of the calls, and the threshold over
time as an inline SVG line. The trace layer does not import the surrogate package: the JSON is
the contract.
Imports: nothing from tandem.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "tandem.surrogate.summary/1"
log = logging.getLogger("tandem")


@dataclass(frozen=True, slots=True)
class SurrogateView:
    name: str
    bound: float
    relative: bool
    calls: int
    share: float
    audits: int
    mean_error: float | None
    max_error: float | None
    versions: int
    retrains: int
    shares: tuple[float, ...]
    thresholds: tuple[tuple[float, float], ...]

    @property
    def met(self) -> bool | None:
        """Whether the audited mean error is within the bound (``None``: nothing audited)."""
        return None if self.mean_error is None else self.mean_error <= self.bound


def _view(d: dict[str, Any]) -> SurrogateView:
    return SurrogateView(
        name=str(d["name"]), bound=float(d["bound"]), relative=bool(d["relative"]),
        calls=int(d["calls"]), share=float(d["share"]), audits=int(d["audits"]),
        mean_error=None if d["mean_error"] is None else float(d["mean_error"]),
        max_error=None if d["max_error"] is None else float(d["max_error"]),
        versions=int(d["versions"]), retrains=int(d["retrains"]),
        shares=tuple(float(x) for x in d["shares"]),
        thresholds=tuple((float(t), float(v)) for t, v in d["thresholds"]))


def load_surrogates(run_dir: str | Path) -> list[SurrogateView]:
    """The surrogates' summaries in ``run_dir`` (see the module docstring), by name."""
    out = []
    for path in sorted(Path(run_dir).glob("*.summary.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(d, dict) or d.get("schema") != SCHEMA:
                continue
            out.append(_view(d))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("%s: not a readable surrogate summary, left out of the report (%s)",
                        path, e)
    return out


def _svg(points: Sequence[tuple[float, float]], bound: float) -> str:
    """The threshold over time, with the bound as a dashed line (200 x 60)."""
    if len(points) < 2:
        return ""
    t0, t1 = points[0][0], points[-1][0]
    top = max(max(v for _, v in points), bound) * 1.1 or 1.0
    span = (t1 - t0) or 1.0

    def xy(t: float, v: float) -> str:
        return f"{200 * (t - t0) / span:.1f},{60 - 60 * v / top:.1f}"
    line = " ".join(xy(t, v) for t, v in points)
    yb = 60 - 60 * bound / top
    return (f'<svg width="200" height="60" viewBox="0 0 200 60" role="img" '
            f'aria-label="threshold over time"><polyline fill="none" stroke="#1f77b4" '
            f'stroke-width="1.5" points="{line}"/><line x1="0" x2="200" y1="{yb:.1f}" '
            f'y2="{yb:.1f}" stroke="#d62728" stroke-dasharray="4 3"/></svg>')


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def surrogates_html(views: Sequence[SurrogateView]) -> str:
    """The report's section of ``views`` (empty when there are none)."""
    if not views:
        return ""
    rows = []
    for v in views:
        unit = " (relative)" if v.relative else ""
        verdict = {None: "not audited", True: "within the bound", False: "over the bound"}[
            v.met]
        shares = " ".join(f"{100 * s:.0f}%" for s in v.shares)
        rows.append(
            f"<tr><td>{html.escape(v.name)}</td><td>{v.calls}</td><td>{100 * v.share:.1f} %"
            f"</td><td>{v.audits}</td><td>{_num(v.mean_error)} / {_num(v.max_error)}</td>"
            f"<td>{v.bound:.3g}{unit}: {verdict}</td><td>{v.versions} ({v.retrains})</td>"
            f"<td>{shares}</td><td>{_svg(v.thresholds, v.bound)}</td></tr>")
    head = ("<tr><th>surrogate</th><th>calls</th><th>answered</th><th>audits</th>"
            "<th>audited error mean / max</th><th>bound</th><th>versions (retrainings)</th>"
            "<th>answered per tenth of calls</th><th>threshold over time (bound dashed)"
            "</th></tr>")
    return ("<h2>Surrogates</h2><p class=\"note\">Each surrogate's answers and real calls, "
            "the error its audits measured against its bound, and the threshold its controller "
            f"set.</p><table>{head}{''.join(rows)}</table>")
