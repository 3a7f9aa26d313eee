"""The run directory's trace: one JSON object per line, appended as the run goes.

Contract: an :class:`Instrument` that writes ``trace.jsonl`` and a reader. Lines are flushed
at the end of each scheduling step, so a crash loses at most the step in flight; a torn last
line is skipped by the reader. Records::

    {"ev": "run", "platform": ..., "policy": ..., "t": now, "epoch": wall}
    {"ev": "launch", "id": 7, "t": 1.25, "attempt": 1, "slots": [["node", [0], ["0"]]]}
    {"ev": "end", "id": 7, "name": ..., "kind": ..., "state": "done", "submitted": ..,
     "ready": .., "launched": .., "started": .., "ended": .., "attempts": 1, "level": 0,
     "deps": [..], "cores": 1, "gpus": 0, "slots": [...], "failure": null | {...}}
    {"ev": "close", "t": ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tandem.core.actions import Launch
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
        self._lines: list[str] = []            # written out by flush(), once per step
        self._launch_slots: dict[int, str] = {}  # task id -> slots of its last launch

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
        slots = placement.slots
        if len(slots) == 1:
            s = slots[0]
            cores = ",".join(map(str, s.cores))
            gpus = ",".join(self._name(g) for g in s.gpus)
            return f'[[{self._name(s.node)},[{cores}],[{gpus}]]]'
        return json.dumps(_slots(placement))

    def task_launched(self, launch: Launch, now: float) -> None:
        slots = self._launch_slots[launch.task_id] = self._slots(launch.placement)
        self._lines.append(f'{{"ev":"launch","id":{launch.task_id},"t":{now!r},'
                           f'"attempt":{launch.attempt},"slots":{slots}}}')

    def task_ended(self, r: TaskRecord) -> None:
        f = r.failure
        failure = "null" if f is None else json.dumps({
            "kind": f.kind.value, "message": f.message, "exit_code": f.exit_code,
            "signal": f.signal, "root": f.root_task_id, "stderr_tail": f.stderr_tail[-2000:],
        })
        deps = ",".join(map(str, r.deps)) if r.deps else ""
        slots = self._launch_slots.pop(r.task_id, None) or self._slots(r.placement)
        ready, launched, started, ended = r.ready, r.launched, r.started, r.ended
        self._lines.append(
            f'{{"ev":"end","id":{r.task_id},"name":{self._name(r.name)},'
            f'"kind":{self._name(r.kind)},"state":"{r.state.value}","submitted":{r.submitted!r},'
            f'"ready":{"null" if ready is None else repr(ready)},'
            f'"launched":{"null" if launched is None else repr(launched)},'
            f'"started":{"null" if started is None else repr(started)},'
            f'"ended":{"null" if ended is None else repr(ended)},"attempts":{r.attempts},'
            f'"level":{r.level},"deps":[{deps}],"cores":{r.cores},"gpus":{r.gpus},'
            f'"slots":{slots},"failure":{failure}}}'
        )
        if len(self._lines) > 8192:     # a driver that never flushes (a long simulation)
            self.flush()

    def run_ended(self, now: float) -> None:
        self._write(json.dumps({"ev": "close", "t": now}))
        self.close()

    def flush(self) -> None:
        if self._f is not None and self._lines:
            self._lines.append("")
            self._f.write("\n".join(self._lines))
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
