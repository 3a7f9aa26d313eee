"""What the task history knows, for ``tandem history``: keys, samples, durations, models and
their held-out error.

Contract: :func:`summarize` reads a history (through :class:`~tandem.history.store.HistoryStore`)
into a frozen :class:`HistorySummary`: per key, its done tasks, the runs they came from, the
median and 90th percentile of their durations, the model a session would fit
(:func:`tandem.history.model.fit`) and its held-out median relative error
(:func:`tandem.history.model.held_out_error`). :func:`render` writes it for people;
:func:`main` is the whole command (the CLI only parses its arguments). A history that does not
exist or holds no row is one line saying so; one that is not a tandem history raises
:class:`~tandem.errors.SpecError` (``tandem: error: ...``, exit status 2).
Imports: tandem.history.estimates, tandem.history.model, tandem.history.store,
tandem.model.stats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.history.estimates import SAMPLES, samples_of
from tandem.history.model import fit as fit_model
from tandem.history.model import held_out_error, sklearn_available
from tandem.history.store import HistoryStore, history_dir
from tandem.model.stats import quantile


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySummary:
    """One key of the history."""

    key: str
    kinds: tuple[str, ...]
    done: int
    """Done tasks (the ones models learn from)."""
    other: int
    """Tasks that ended otherwise (failed, cancelled, ...)."""
    runs: int
    median_s: float | None
    p90_s: float | None
    model: str
    """``"median"`` or ``"boosted"`` (``""``: no done task)."""
    why: str
    """Why a median and not a boosted model."""
    error: float | None
    """Median relative error on held-out tasks (``None``: fewer than 5 done)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySummary:
    path: Path
    rows: int
    keys: tuple[KeySummary, ...]
    sklearn: bool
    """Whether scikit-learn is installed (without it every model is a median)."""

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "rows": self.rows, "sklearn": self.sklearn,
                "keys": [{"key": k.key, "kinds": list(k.kinds), "done": k.done,
                          "other": k.other, "runs": k.runs, "median_s": k.median_s,
                          "p90_s": k.p90_s, "model": k.model, "why": k.why,
                          "held_out_error": k.error} for k in self.keys]}


def summarize(directory: str | Path) -> HistorySummary:
    """The summary of the history in ``directory`` (see the module docstring)."""
    store = HistoryStore(directory)
    rows = store.rows()
    by_key: dict[str, list[Any]] = {}
    for r in rows:
        by_key.setdefault(r.key, []).append(r)
    keys = []
    for key in sorted(by_key):
        mine = by_key[key]
        done = [r for r in mine if r.state == "done"][-SAMPLES:]
        samples = samples_of(done)
        durations = [d for _, d in samples]
        model = fit_model(samples) if samples else None
        keys.append(KeySummary(
            key=key, kinds=tuple(sorted({r.kind for r in mine})), done=len(done),
            other=sum(1 for r in mine if r.state != "done"), runs=len({r.run for r in mine}),
            median_s=quantile(durations, 0.5) if durations else None,
            p90_s=quantile(durations, 0.9) if durations else None,
            model=model.kind if model is not None else "",
            why=model.why if model is not None else "",
            error=held_out_error(samples, model.kind) if model is not None else None))
    return HistorySummary(path=store.path, rows=len(rows), keys=tuple(keys),
                          sklearn=sklearn_available())


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g} s"


def render(summary: HistorySummary) -> str:
    """The summary for people: one line per key."""
    if not summary.rows:
        return f"no task history in {summary.path.parent} yet (a traced session adds its " \
               "tasks when it closes)"
    head = (f"{summary.path}: {summary.rows} tasks of {len(summary.keys)} keys"
            + ("" if summary.sklearn else "; scikit-learn is not installed: every model is a "
               "median (pip install scikit-learn)"))
    width = max(len(k.key) for k in summary.keys)
    lines = [head, f"{'key':<{width}}  {'done':>6}  {'runs':>4}  {'median':>9}  {'p90':>9}  "
                   f"{'model':<7}  held-out error"]
    for k in summary.keys:
        err = "-" if k.error is None else f"{k.error:.1%}"
        lines.append(f"{k.key:<{width}}  {k.done:>6}  {k.runs:>4}  {_s(k.median_s):>9}  "
                     f"{_s(k.p90_s):>9}  {k.model or '-':<7}  {err}")
    return "\n".join(lines)


def main(directory: str | None, *, as_json: bool = False, clear: bool = False) -> int:
    """``tandem history [DIR] [--json] [--clear]``: print, return the exit status."""
    where = history_dir(directory)
    if where is None:
        print("the task history is off (TANDEM_HISTORY=off)")
        return 0
    if clear:
        found = HistoryStore(where).clear()
        print(f"removed the task history in {where}" if found
              else f"no task history in {where}: nothing to remove")
        return 0
    summary = summarize(where)
    print(json.dumps(summary.as_json(), indent=1) if as_json else render(summary))
    return 0
