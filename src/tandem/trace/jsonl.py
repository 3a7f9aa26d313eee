"""The run directory's trace: one JSON object per line, appended as the run goes.

Contract: an :class:`Instrument` that writes ``trace.jsonl`` and a reader. The runtime flushes
lines at most 50 ms after they are made, so a crash loses at most that much; a torn last line
is skipped by the reader. A ``launch`` record is written for a task still running when its
lines are flushed; a task that ended before carries its launch (time, slots) in its ``end``
record alone, which saves most of the trace's cost for short tasks. Times are seconds of the
driver's clock with microsecond resolution. Records::

    {"ev": "run", "platform": ..., "policy": ..., "t": now, "epoch": wall}
    {"ev": "launch", "id": 7, "t": 1.25, "attempt": 1, "slots": [["node", [0], ["0"]]]}
    {"ev": "end", "id": 7, "name": ..., "kind": ..., "state": "done", "submitted": ..,
     "ready": .., "launched": .., "started": .., "ended": .., "attempts": 1, "level": 0,
     "deps": [..], "cores": 1, "gpus": 0, "slots": [...], "failure": null | {...}}
    {"ev": "steer", "t": 3.5, "action": "pause", "task": 7, "by": "agent", "reason": "...",
     "release": true}      (details per action: see tandem.core.actions.Steered)
    {"ev": "close", "t": ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from tandem.core.actions import Launch, Steered
from tandem.core.record import TaskRecord
from tandem.core.values import Placement
from tandem.spec.platform import Platform
from tandem.trace.instrument import Instrument

TRACE_FILE = "trace.jsonl"


def _slots(p: Placement | None) -> list[Any]:
    if p is None:
        return []
    return [[s.node, list(s.cores), list(s.gpus)] for s in p.slots]


class JsonlTrace(Instrument):
    """Writes ``run_dir/trace.jsonl``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / TRACE_FILE
        self._f: IO[str] | None = open(self.path, "a", buffering=1 << 16)  # noqa: SIM115
        self._names: dict[str, str] = {}
        # written out by flush(): lines, and end records still to format
        self._lines: list[str | TaskRecord] = []
        self._launch_slots: dict[int, str] = {}  # running, launch written: id -> its slots
        # launched since the last flush: id -> (time, attempt, placement); no line yet
        self._unwritten: dict[int, tuple[float, int, Placement]] = {}
        self._statics: dict[tuple[str, str, int, int, int], str] = {}
        self._slot_text: dict[int, tuple[Placement, str]] = {}

    def _name(self, s: str) -> str:
        enc = self._names.get(s)
        if enc is None:
            enc = self._names[s] = json.dumps(s)
        return enc

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        nodes = [{"name": n.name, "cores": list(n.cores), "gpus": list(n.gpus),
                  "virtual_gpus": n.virtual_gpus} for n in platform.nodes]
        self._write(json.dumps({"ev": "run", "platform": nodes, "policy": policy, "t": now,
                                "epoch": epoch}))

    def _slots(self, placement: Placement | None) -> str:
        if placement is None:
            return "[]"
        # The pool hands out one shared Placement per single-core slot: format it once. The
        # cache holds the placement itself, so an id is never reused while it is cached.
        hit = self._slot_text.get(id(placement))
        if hit is not None and hit[0] is placement:
            return hit[1]
        slots = placement.slots
        if len(slots) == 1:
            s = slots[0]
            cores = ",".join(map(str, s.cores))
            gpus = ",".join(self._name(g) for g in s.gpus)
            text = f'[[{self._name(s.node)},[{cores}],[{gpus}]]]'
        else:
            text = json.dumps(_slots(placement))
        if len(self._slot_text) > 4096:
            self._slot_text.clear()
        self._slot_text[id(placement)] = (placement, text)
        return text

    def task_launched(self, launch: Launch, now: float) -> None:
        # Its line is made at flush time, and only if the task is still running then.
        self._unwritten[launch.task_id] = (now, launch.attempt, launch.placement)

    def _static(self, r: TaskRecord) -> str:
        """The part of an end line that tasks of one name, kind and shape share."""
        key = (r.name, r.kind, r.cores, r.gpus, r.level)
        part = self._statics.get(key)
        if part is None:
            if len(self._statics) > 4096:
                self._statics.clear()
            part = self._statics[key] = (
                f',"name":{self._name(r.name)},"kind":{self._name(r.kind)},'
                f'"level":{r.level},"cores":{r.cores},"gpus":{r.gpus}')
        return part

    def task_ended(self, r: TaskRecord) -> None:
        # Formatted by flush(), in one tight loop, within 50 ms (the same crash window).
        self._lines.append(r)
        if len(self._lines) > 8192:     # a driver that never flushes (a long simulation)
            self.flush()

    def _end_line(self, r: TaskRecord) -> str:
        f = r.failure
        failure = "null" if f is None else json.dumps({
            "kind": f.kind.value, "message": f.message, "exit_code": f.exit_code,
            "signal": f.signal, "root": f.root_task_id, "stderr_tail": f.stderr_tail[-2000:],
            "by": f.by,
        })
        tid = r.task_id
        pending = self._unwritten.pop(tid, None)
        if pending is not None:
            slots = self._slots(pending[2])
        else:
            written = self._launch_slots.pop(tid, "")
            slots = written or self._slots(r.placement)
        ready, launched, started, ended = r.ready, r.launched, r.started, r.ended
        return (
            '{"ev":"end","id":%d%s,"state":"%s","submitted":%.6f,"ready":%s,"launched":%s,'
            '"started":%s,"ended":%s,"attempts":%d,"deps":[%s],"slots":%s,"failure":%s}' % (
                tid, self._static(r), r.state.value, r.submitted,
                "null" if ready is None else "%.6f" % ready,
                "null" if launched is None else "%.6f" % launched,
                "null" if started is None else "%.6f" % started,
                "null" if ended is None else "%.6f" % ended,
                r.attempts, ",".join(map(str, r.deps)) if r.deps else "", slots, failure))

    def steered(self, action: Steered, now: float) -> None:
        record = {"ev": "steer", "t": round(now, 6), "action": action.action,
                  "task": action.task_id, "by": action.by, "reason": action.reason}
        record.update(action.details)
        self._lines.append(json.dumps(record))

    def run_ended(self, now: float) -> None:
        self._write(json.dumps({"ev": "close", "t": now}))
        self.close()

    def flush(self) -> None:
        lines = self._lines
        if lines:
            # End records first: a task that ended takes its pending launch with it.
            end_line = self._end_line
            for i, x in enumerate(lines):
                if type(x) is not str:
                    lines[i] = end_line(cast(TaskRecord, x))
        if self._unwritten:
            # Tasks still running: their launch goes out now (a crash keeps it).
            lines, written = self._lines, self._launch_slots
            for tid, (t, attempt, placement) in self._unwritten.items():
                slots = self._slots(placement)
                lines.append('{"ev":"launch","id":%d,"t":%.6f,"attempt":%d,"slots":%s}'
                             % (tid, t, attempt, slots))
                written[tid] = slots
            self._unwritten.clear()
        if self._f is not None and self._lines:
            self._lines.append("")
            self._f.write("\n".join(cast(list[str], self._lines)))
            self._lines.clear()
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None

    def _write(self, line: str) -> None:
        self._lines.append(line)


def read_trace(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the trace records of a run directory (or a trace file), skipping a torn last line."""
    p = Path(run_dir)
    if p.is_dir():
        p = p / TRACE_FILE
    with open(p) as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
