"""The run directory's trace: one JSON object per line, appended as the run goes.

Contract: an :class:`Instrument` that writes ``trace.jsonl``, and a reader. Like any instrument
it is bound to the driver's tasks (a read-only view, ``tandem.core.view.TaskView``) and hears,
per task, only the id of what launched and what resolved (``task_launched``,
``task_resolved``: list appends); at each :meth:`JsonlTrace.flush` it reads those tasks
through the view and hands plain rows to a writer process, which makes the lines and appends
them (:mod:`tandem.trace.writer`, :mod:`tandem.trace.sink`). The driver's thread thus spends
well under a microsecond per task on its trace. The runtime flushes at most 50 ms after an
event, so a crash of the driver loses at most that much; a torn last line is skipped by the
reader. A ``launch`` record is written for a task still running when its lines are flushed; a
task that ended before carries its launch (time, slots) in its ``end`` record alone. Times are
seconds of the driver's clock with microsecond resolution.
Imports: tandem.core.actions, tandem.core.pools, tandem.core.states, tandem.core.values,
tandem.core.view,
tandem.errors, tandem.spec.platform, tandem.spec.resources, tandem.spec.task,
tandem.trace.instrument,
tandem.trace.sink.

Records::

    {"ev": "run", "platform": ..., "policy": ..., "t": now, "epoch": wall,
     "pools": {"md": {"cores": 8, "gpus": 0}, ...}}     (pools: only with resource pools)
    {"ev": "launch", "id": 7, "t": 1.25, "attempt": 1, "slots": [["node", [0], ["0"]]]}
    {"ev": "end", "id": 7, "name": ..., "kind": ..., "state": "done", "submitted": ..,
     "ready": .., "launched": .., "started": .., "ended": .., "attempts": 1, "level": 0,
     "deps": [..], "cores": 1, "gpus": 0, "by": "user", "slots": [...],
     "failure": null | {...}, "peak_mb": 812.5,         (by: who submitted it; peak_mb: the
     "restored": "sim.3f2a..", "estimate": 2.5,         last attempt's peak memory in MiB,
     "estimated": "learned", "features": {"n": 4}}      where its backend measured it;
                                                        restored: its journal key, when it
                                                        finished in an earlier run and was
                                                        restored, not launched; estimate,
                                                        estimated: its estimate in seconds and
                                                        where it came from, "user" or
                                                        "learned" from the history; features:
                                                        what the user said of its size)
    {"ev": "steer", "t": 3.5, "action": "pause", "task": 7, "by": "agent", "reason": "...",
     "release": true}      (details per action: see tandem.core.actions.Steered)
    {"ev": "data", "t": 2.1, "task": 7, "node": "n0", "change": 100000192,
     "held": 100000192}    (results kept by reference: bytes kept (+) or freed (-) on the
                            node, and its total after: see tandem.runtime.kept; a
                            stream's items waiting in segments count too, as their
                            writer's)
    {"ev": "close", "t": ...}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.core.actions import Launch, Steered
from tandem.core.pools import PoolUsage
from tandem.core.states import FINAL, TaskState
from tandem.core.values import Failure, Placement
from tandem.errors import TandemError
from tandem.spec.platform import Platform
from tandem.spec.resources import Resources
from tandem.spec.task import TaskSpec
from tandem.trace.instrument import Instrument
from tandem.trace.sink import TraceSink

if TYPE_CHECKING:
    from tandem.core.view import TaskView

TRACE_FILE = "trace.jsonl"

_STATE = {s: s.value for s in TaskState}   # Enum's .value is a property: slow per record


def _slots(p: Placement | None) -> list[Any]:
    if p is None:
        return []
    return [[s.node, list(s.cores), list(s.gpus)] for s in p.slots]


class JsonlTrace(Instrument):
    """Writes ``run_dir/trace.jsonl``; with ``process`` (the default) through a writer
    process. A driver binds it (:meth:`bind`) before the run and flushes it at least every few
    thousand tasks; given to ``open_session`` or the simulator as an instrument, it is bound
    and flushed like the run directory's own."""

    def __init__(self, run_dir: Path, *, process: bool = True) -> None:
        self.path = Path(run_dir) / TRACE_FILE
        self._sink: TraceSink | None = TraceSink(self.path, process=process)
        self._tasks: Mapping[int, TaskView] | None = None
        self._pools: Callable[[], Mapping[str, PoolUsage]] = dict
        self._names: dict[str, str] = {}
        # until the next flush: lines, and ids of tasks that ended (in event order)
        self._items: list[str | int] = []
        self._launched: list[int] = []           # ids launched since the last flush
        self._peaks: dict[int, float] = {}       # id -> its last attempt's peak (MiB)
        self._restored: dict[int, str] = {}      # id -> its journal key (JSON), if restored
        self._launch_slots: dict[int, str] = {}  # running, launch line written: id -> slots
        self._statics: dict[tuple[str, str, int, int, str], tuple[Resources, str]] = {}
        self._slot_text: dict[int, tuple[Placement, str]] = {}

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid while it runs (``None`` when tracing in-process)."""
        return self._sink.pid if self._sink is not None else None

    def bind(self, tasks: Mapping[int, TaskView],
             pools: Callable[[], Mapping[str, PoolUsage]]) -> None:
        """Read tasks (and resource pools) from the driver."""
        self._tasks = tasks
        self._pools = pools

    def task_launched(self, launch: Launch, now: float) -> None:
        self._launched.append(launch.task_id)

    def task_memory(self, task_id: int, peak_mb: float) -> None:
        self._peaks[task_id] = peak_mb

    def task_resolved(self, task_id: int) -> None:
        self._items.append(task_id)

    def task_restored(self, task_id: int, key: str, now: float) -> None:
        self._restored[task_id] = _quote(key)

    def _name(self, s: str) -> str:
        enc = self._names.get(s)
        if enc is None:
            enc = self._names[s] = json.dumps(s)
        return enc

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        nodes = [{"name": n.name, "cores": list(n.cores), "gpus": list(n.gpus),
                  "virtual_gpus": n.virtual_gpus} for n in platform.nodes]
        header: dict[str, Any] = {"ev": "run", "platform": nodes, "policy": policy, "t": now,
                                  "epoch": epoch}
        pools = self._pools()
        if pools:
            header["pools"] = {name: {"cores": u.quota_cores, "gpus": u.quota_gpus}
                               for name, u in pools.items()}
        self._items.append(json.dumps(header))

    def _slots(self, placement: Placement | None) -> str:
        """The slots' JSON text, formatted once per placement. The pool hands out one shared
        Placement per single-core slot; the cache holds the placement itself, so an id is never
        reused while it is cached."""
        hit = self._slot_text.get(id(placement))
        return hit[1] if hit is not None and hit[0] is placement else self._new_slots(placement)

    def _new_slots(self, placement: Placement | None) -> str:
        if placement is None:
            return "[]"
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

    def _new_static(self, t: TaskView, key: tuple[str, str, int, int, str]) -> str:
        """The part of an end line that tasks of one name, kind, level, request (``key``
        holds its id; the cache holds the request, so ids stay unique) and submitter share."""
        spec = t.spec
        res = spec.resources
        if len(self._statics) > 4096:
            self._statics.clear()
        part = (f',"name":{self._name(spec.name)},"kind":{self._name(spec.kind)},'
                f'"level":{t.level},"cores":{res.total_cores},"gpus":{res.total_gpus},'
                f'"by":{self._name(spec.by)}')
        self._statics[key] = (res, part)
        return part

    def steered(self, action: Steered, now: float) -> None:
        record = {"ev": "steer", "t": round(now, 6), "action": action.action,
                  "task": action.task_id, "by": action.by, "reason": action.reason}
        record.update(action.details)
        self._items.append(json.dumps(record))

    def noted(self, kind: str, fields: Mapping[str, Any], now: float) -> None:
        record = {"t": round(now, 6), **fields, "ev": kind}
        self._items.append(json.dumps(record, separators=(",", ":")))

    def data_held(self, task_id: int, node: str, change: int, held: int, now: float) -> None:
        self._items.append(json.dumps({"ev": "data", "t": round(now, 6), "task": task_id,
                                       "node": node, "change": change, "held": held}))

    def run_ended(self, now: float) -> None:
        self._items.append(json.dumps({"ev": "close", "t": now}))
        self.close()

    def flush(self) -> None:
        """Hand what happened since the last flush to the writer, as rows."""
        items: list[Any] = self._items
        launched = self._launched
        if not items and not launched:
            return
        tasks = self._tasks
        if tasks is None:
            raise TandemError("JsonlTrace: bind(tasks, pools) it before tasks run (open_session "
                              "and the simulator do this for the traces they are given)")
        written = self._launch_slots
        statics, slot_text, state_of, peaks = self._statics, self._slot_text, _STATE, self._peaks
        restored = self._restored
        for i, x in enumerate(items):
            if type(x) is int:
                t = tasks[x]
                # The two caches are read here, not through calls: this loop is the trace's
                # whole cost on the driver's thread.
                spec, p = t.spec, t.placement
                res = spec.resources
                key = (spec.name, spec.kind, t.level, id(res), spec.by)
                hit = statics.get(key)
                static = hit[1] if hit is not None and hit[0] is res else self._new_static(t, key)
                slots = written.pop(x, None) if written else None
                if slots is None:
                    got = slot_text.get(id(p))
                    slots = got[1] if got is not None and got[0] is p else self._new_slots(p)
                f = t.failure
                items[i] = (x, static, state_of[t.state], t.submitted, t.ready_at, t.launched,
                            t.started, t.ended, t.attempt, t.deps, slots,
                            "null" if f is None else _failure(f),
                            peaks.pop(x, None) if peaks else None,
                            restored.pop(x, None) if restored else None,
                            None if spec.estimate is None and spec.features is None
                            else _estimate(spec))
        if launched:
            # Tasks still running: their launch goes out now (a crash keeps it).
            for tid in dict.fromkeys(launched):
                t = tasks[tid]
                if t.state in FINAL or t.launched is None:
                    continue
                slots = self._slots(t.placement)
                items.append((tid, t.launched, t.attempt, slots))
                written[tid] = slots
            launched.clear()
        if self._sink is not None:
            self._sink.send(items)
        items.clear()

    def close(self) -> None:
        if self._sink is not None:
            self.flush()
            self._sink.close()
            self._sink = None


_quote = json.encoder.encode_basestring_ascii


def _estimate(spec: TaskSpec) -> tuple[float | None, str, str | None]:
    f = spec.features
    return spec.estimate, spec.estimate_from, None if f is None else json.dumps(f)


def _failure(f: Failure) -> str:
    return json.dumps({"kind": f.kind.value, "message": f.message, "exit_code": f.exit_code,
                       "signal": f.signal, "root": f.root_task_id,
                       "stderr_tail": f.stderr_tail[-2000:], "by": f.by})


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
