"""The report's comparison of a run with a reference: the table's rows, the improvement and,
when one run is a prediction and the other measured, the prediction error.

Contract: pure functions of two :class:`~tandem.trace.report_sections.RunView`; OTHER (given
with ``--compare``) is the *reference*. For each quantity the page shows this run, the
reference, ``this - reference`` and ``(this - reference) / reference``. The improvement is
``I = (T_ref - T_this) / T_ref`` (positive: this run is faster; the paper's
``I = 1 - T_async / T_seq`` when this run is asynchronous and the reference stage-synchronous).
When one run is simulated (a prediction) and the other measured, a *prediction error* column
adds ``(predicted - measured) / measured`` whichever way round they were given.
Imports: tandem.trace.report_sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.trace.report_sections import RESOURCES, RunView, escape, fmt_seconds, table


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


def comparison(this: RunView, ref: RunView) -> tuple[Row, ...]:
    """The comparison table: makespan, utilisation, latencies and per-kind numbers."""
    a, b = this.metrics, ref.metrics
    rows = [Row("makespan", a.makespan, b.makespan, "s"),
            Row("tasks", a.tasks, b.tasks, ""), Row("tasks that ran", a.ran, b.ran, "")]
    for res in ("cores", "gpus"):
        if getattr(this.run, f"total_{res}") or getattr(ref.run, f"total_{res}"):
            rows.append(Row(f"utilisation of {RESOURCES[res]}", a.utilisation.get(res),
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


def comparison_html(this: RunView, ref: RunView) -> tuple[str, dict[str, Any]]:
    """The comparison section, and its numbers for the page's embedded metrics."""
    rows = comparison(this, ref)
    imp = improvement(this.metrics.makespan, ref.metrics.makespan)
    sims = (this.simulated, ref.simulated)
    pred_col = sims[0] != sims[1]
    head = ["quantity", f"this: {escape(this.label)}", f"reference: {escape(ref.label)}",
            "this &minus; reference",
            "(this &minus; reference) / reference"]
    if pred_col:
        head.append("prediction error (predicted &minus; measured) / measured")
    body = []
    for r in rows:
        cells = [escape(r.quantity), _fmt(r.this, r.unit), _fmt(r.ref, r.unit),
                 _signed(r.diff, r.unit), _pct(r.rel)]
        if pred_col:
            rel = r.rel if this.simulated else (
                None if r.this is None or r.ref is None or not r.this
                else (r.ref - r.this) / r.this)
            cells.append(_pct(rel))
        body.append(cells)
    kind = "predicted vs measured" if pred_col else "two runs"
    text = (f"<p><b>{escape(kind)}</b>: this run is <code>{escape(this.run.path)}</code>, the "
            f"<b>reference</b> is <code>{escape(ref.run.path)}</code>. Makespan "
            f"T<sub>this</sub> = {fmt_seconds(this.metrics.makespan)} s, T<sub>ref</sub> = "
            f"{fmt_seconds(ref.metrics.makespan)} s; improvement <b>I = (T<sub>ref</sub> &minus; "
            f"T<sub>this</sub>) / T<sub>ref</sub> = {_pct(imp)}</b> (positive: this run is "
            "faster than the reference). Relative differences are (this &minus; reference) / "
            "reference; utilisation differences are also given in percentage points (pp).")
    if pred_col:
        text += (" The prediction error column is (predicted &minus; measured) / measured, with "
                 f"<code>{escape((this if this.simulated else ref).label)}</code> the prediction.")
    data = {"improvement": imp, "rows": [
        {"quantity": r.quantity, "this": r.this, "reference": r.ref, "diff": r.diff,
         "rel": r.rel} for r in rows]}
    return text + "</p>" + table(head, body, "num"), data
