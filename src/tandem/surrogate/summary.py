"""What a surrogate did, as a value: surrogate share, audited error against the bound, model
versions and the threshold over time; printable.

Contract: :func:`summarize` is pure: records (in memory or read back with
:func:`~tandem.surrogate.records.read_log`) in, one frozen :class:`SurrogateSummary` out. When
the records hold several runs (a log appended to), the last run's are summarised. Every
number is counted from the records; nothing is estimated but ``returned_error``, which says
what it is.
Imports: tandem.errors, tandem.surrogate.records.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.errors import SpecError
from tandem.surrogate.records import (
    Audit,
    AuditFailed,
    Call,
    Record,
    Retrain,
    RetrainFailed,
    Started,
    Swap,
    read_log,
)

BLOCKS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class SurrogateSummary:
    """One surrogate's run. ``shares``: the surrogate share of each tenth of the calls, in
    call order (how trust grew as data accrued). ``thresholds``: ``(t, threshold)`` at the start
    and after every audit."""

    name: str
    bound: float
    relative: bool
    calls: int
    surrogate: int
    real: int
    audited: int
    audits: int
    audits_failed: int
    mean_error: float | None
    """The mean of every audited error (``None``: nothing audited)."""
    max_error: float | None
    retrains: int
    retrains_failed: int
    versions: int
    """Model versions swapped in."""
    fit_seconds: float
    shares: tuple[float, ...]
    thresholds: tuple[tuple[float, float], ...]

    @property
    def share(self) -> float:
        """The fraction of calls the surrogate answered."""
        return self.surrogate / self.calls if self.calls else 0.0

    @property
    def bound_met(self) -> bool | None:
        """Whether the audited mean error is within the bound (``None``: nothing audited)."""
        return None if self.mean_error is None else self.mean_error <= self.bound

    @property
    def returned_error(self) -> float | None:
        """The mean error over every returned value, estimated: real answers are exact, so it
        is ``share x mean audited error``."""
        return None if self.mean_error is None else self.share * self.mean_error

    @property
    def verdict(self) -> str:
        """One sentence: the bound held, was not met (and the calls fell back), or untested."""
        unit = "relative " if self.relative else ""
        if self.mean_error is None:
            return (f"no answer was audited, so the {unit}error bound {self.bound:g} was not "
                    "tested" + (" (every call ran the real function)" if self.surrogate == 0
                                else ""))
        if self.mean_error <= self.bound:
            return (f"bound held: audited mean {unit}error {self.mean_error:.3g} <= "
                    f"{self.bound:g} over {self.audits} audits")
        last = self.shares[-1] if self.shares else 0.0
        return (f"bound NOT met: audited mean {unit}error {self.mean_error:.3g} > "
                f"{self.bound:g} over {self.audits} audits; the threshold fell to "
                f"{self.thresholds[-1][1]:.3g} and calls fell back to the real function "
                f"(surrogate share of the last tenth of calls: {last:.0%})")

    def format(self) -> str:
        lines = [
            f"surrogate {self.name!r}: {self.calls} calls, {self.surrogate} answered by the "
            f"surrogate ({self.share:.1%}), {self.real} by the real function",
            f"  {self.verdict}",
            f"  audits: {self.audits} measured of {self.audited} asked"
            + (f", {self.audits_failed} failed" if self.audits_failed else "")
            + (f"; max error {self.max_error:.3g}" if self.max_error is not None else ""),
            f"  models: {self.versions} versions from {self.retrains} retrainings"
            + (f" ({self.retrains_failed} failed)" if self.retrains_failed else "")
            + f", {self.fit_seconds:.2f} s fitting",
            "  share per tenth of calls: " + " ".join(f"{s:.0%}" for s in self.shares),
        ]
        if self.thresholds:
            pts = self.thresholds
            pick = pts if len(pts) <= 6 else [pts[round(i * (len(pts) - 1) / 5)]
                                              for i in range(6)]
            lines.append("  threshold over time: " + ", ".join(f"{v:.3g} @ {t - pts[0][0]:.1f}s"
                                                              for t, v in pick))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def summarize(records: Sequence[Record]) -> SurrogateSummary:
    """The summary of the last run in ``records`` (which must begin with a start record)."""
    starts = [i for i, r in enumerate(records) if isinstance(r, Started)]
    if not starts:
        raise SpecError("surrogate records: no start record (not a surrogate's log?)")
    first = records[starts[-1]]
    assert isinstance(first, Started)
    run = records[starts[-1] + 1:]
    calls = [r for r in run if isinstance(r, Call)]
    audits = [r for r in run if isinstance(r, Audit)]
    errors = [a.error for a in audits]
    shares = []
    for b in range(BLOCKS):
        block = calls[b * len(calls) // BLOCKS:(b + 1) * len(calls) // BLOCKS]
        if block:
            shares.append(sum(c.decision == "surrogate" for c in block) / len(block))
    swaps = [r for r in run if isinstance(r, Swap)]
    return SurrogateSummary(
        name=first.name, bound=first.bound, relative=first.relative, calls=len(calls),
        surrogate=sum(c.decision == "surrogate" for c in calls),
        real=sum(c.decision == "real" for c in calls),
        audited=sum(c.audited for c in calls), audits=len(audits),
        audits_failed=sum(isinstance(r, AuditFailed) for r in run),
        mean_error=sum(errors) / len(errors) if errors else None,
        max_error=max(errors) if errors else None,
        retrains=sum(isinstance(r, Retrain) for r in run),
        retrains_failed=sum(isinstance(r, RetrainFailed) for r in run),
        versions=len(swaps), fit_seconds=sum(s.fit_seconds for s in swaps),
        shares=tuple(shares),
        thresholds=((first.t, first.threshold), *((a.t, a.threshold) for a in audits)),
    )


def read_summary(run_dir: str | Path, name: str = "surrogate") -> SurrogateSummary:
    """The summary of surrogate ``name``'s last run in ``run_dir`` (its ``<name>.jsonl``)."""
    path = Path(run_dir) / f"{name}.jsonl"
    if not path.exists():
        raise SpecError(f"{run_dir}: no {path.name} (no surrogate named {name!r} ran there)")
    return summarize(read_log(path))


SUMMARY_SCHEMA = "tandem.surrogate.summary/1"
"""The ``schema`` of a ``<name>.summary.json`` file (what ``tandem report`` reads)."""


def write_summary(records: Sequence[Record], path: Path) -> None:
    """Write the summary of ``records``' last run to ``path`` as JSON (the fields of
    :class:`SurrogateSummary`, its ``share`` and ``schema``), which ``tandem report`` shows
    without importing tandem.surrogate. A file that cannot be written is a warning."""
    try:
        s = summarize(records)
        body = {"schema": SUMMARY_SCHEMA, **dataclasses.asdict(s), "share": s.share}
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")
    except (OSError, SpecError) as e:
        logging.getLogger("tandem.surrogate").warning("%s: the surrogate's summary was not "
                                                      "written: %s", path, e)
