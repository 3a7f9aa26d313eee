"""What a campaign's journal says: finished, failed, in flight — for ``tandem journal``.

Contract: :func:`read_journal` reads a run directory's journal (read-only, through
:func:`tandem.journal.store.read`) into a frozen :class:`JournalSummary`; :func:`render`
writes it for people. A task is *finished* when it is done with a stored result (a resumed run
returns it without running), *failed* when it ended failed, timed out, cancelled or
dependency-failed, and *in flight* when it was submitted (or launched) and never ended: its
session was killed, or is still running.
Imports: tandem.journal.store.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tandem.journal.store import Entry, Run, read

_ENDED_BAD = frozenset({"failed", "timed_out", "cancelled", "dependency_failed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalSummary:
    run_dir: Path
    runs: tuple[Run, ...]
    finished: tuple[Entry, ...]
    failed: tuple[Entry, ...]
    in_flight: tuple[tuple[Entry, str], ...]     # with its last recorded event
    by_kind: dict[str, dict[str, int]]           # kind -> {finished, failed, in_flight}

    def as_json(self) -> dict[str, object]:
        return {
            "run_dir": str(self.run_dir),
            "runs": [{"run": r.run, "started": r.started, "ended": r.ended,
                      "resumed": r.resumed, "host": r.host, "summary": r.summary}
                     for r in self.runs],
            "finished": len(self.finished), "failed": len(self.failed),
            "in_flight": len(self.in_flight), "by_kind": self.by_kind,
            "failed_tasks": [{"key": e.key, "name": e.name, "state": e.state,
                              "failure": e.failure} for e in self.failed],
            "in_flight_tasks": [{"key": e.key, "name": e.name, "last": last}
                                for e, last in self.in_flight],
        }


def read_journal(run_dir: str | Path) -> JournalSummary:
    rd = Path(run_dir)
    runs, entries, last = read(rd)
    finished, failed, flying = [], [], []
    kinds: dict[str, Counter[str]] = {}
    for e in sorted(entries, key=lambda e: e.key):
        c = kinds.setdefault(e.kind, Counter())
        if e.state == "done":
            finished.append(e)
            c["finished"] += 1
        elif e.state in _ENDED_BAD:
            failed.append(e)
            c["failed"] += 1
        else:
            flying.append((e, last.get(e.key, "submitted")))
            c["in_flight"] += 1
    return JournalSummary(run_dir=rd, runs=tuple(runs), finished=tuple(finished),
                          failed=tuple(failed), in_flight=tuple(flying),
                          by_kind={k: dict(v) for k, v in sorted(kinds.items())})


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def render(s: JournalSummary, *, limit: int = 20) -> str:
    lines = [f"{s.run_dir}: {len(s.runs)} run{'s' if len(s.runs) != 1 else ''}; "
             f"{len(s.finished)} finished, {len(s.failed)} failed, "
             f"{len(s.in_flight)} in flight"]
    for r in s.runs:
        end = _when(r.ended) if r.ended is not None else "never closed (killed, or running)"
        what = " (resumed)" if r.resumed else ""
        lines.append(f"  run {r.run}{what}: {_when(r.started)} to {end}"
                     + (f": {r.summary}" if r.summary else ""))
    for kind, c in s.by_kind.items():
        lines.append(f"  {kind}: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                for k, n in sorted(c.items())))
    if s.failed:
        lines.append("failed:")
        lines += [f"  {e.name} ({e.key}): {e.state}: {e.failure or ''}".rstrip()
                  for e in s.failed[:limit]]
        if len(s.failed) > limit:
            lines.append(f"  ... and {len(s.failed) - limit} more")
    if s.in_flight:
        lines.append("in flight (these run again on resume):")
        lines += [f"  {e.name} ({e.key}): {last}" for e, last in s.in_flight[:limit]]
        if len(s.in_flight) > limit:
            lines.append(f"  ... and {len(s.in_flight) - limit} more")
    return "\n".join(lines)
