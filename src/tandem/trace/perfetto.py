"""Export a run's trace as Chrome / Perfetto trace-event JSON (open in ui.perfetto.dev).

Contract: :func:`perfetto_events` is pure (a :class:`~tandem.trace.records.TraceRun` in, a
JSON-ready dict out); :func:`export_perfetto` reads a run directory and writes one file.

- One process per node (``pid`` 1, 2, ... in platform order, named by the node), one thread
  (track) per core id (``"core 3"``) and per GPU id (``"gpu 0"``); cores sort before GPUs.
- One complete event (``"ph": "X"``) per task per unit it held: a task placed on 2 cores and
  1 GPU gives 3 events, one on each track, named by the task's name, with
  ``args = {"id", "kind", "state"}``. Tasks that never ran give none.
- ``ts`` and ``dur`` are microseconds; ``ts`` counts from the run's start (the header's ``t``).
- Slots naming a node, core or GPU the header does not list get tracks of their own.
Imports: tandem.errors, tandem.trace.records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tandem.errors import SpecError
from tandem.trace.records import TraceRun, load_trace

US = 1e6


class _Tracks:
    """Assigns pids to nodes and tids to cores / GPUs, remembering their names."""

    def __init__(self, run: TraceRun) -> None:
        self.pids: dict[str, int] = {}
        self.tids: dict[tuple[str, str, str], tuple[int, int]] = {}
        self.next_tid: dict[str, int] = {}
        for n in run.nodes:
            for c in n.cores:
                self.tid(n.name, "core", str(c))
            for g in n.gpus:
                self.tid(n.name, "gpu", g)

    def pid(self, node: str) -> int:
        if node not in self.pids:
            self.pids[node] = len(self.pids) + 1
        return self.pids[node]

    def tid(self, node: str, kind: str, unit: str) -> tuple[int, int]:
        key = (node, kind, unit)
        if key not in self.tids:
            pid = self.pid(node)
            tid = self.next_tid.get(node, 1)
            self.next_tid[node] = tid + 1
            self.tids[key] = (pid, tid)
        return self.tids[key]

    def metadata(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for node, pid in self.pids.items():
            out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                        "args": {"name": node}})
            out.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
                        "args": {"sort_index": pid}})
        order = sorted(self.tids.items(),
                       key=lambda kv: (kv[1][0], kv[0][1] != "core", _unit_key(kv[0][2])))
        for i, ((_, kind, unit), (pid, tid)) in enumerate(order):
            out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                        "args": {"name": f"{kind} {unit}"}})
            out.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
                        "args": {"sort_index": i}})
        return out


def _unit_key(unit: str) -> tuple[int, int | str]:
    return (0, int(unit)) if unit.isdigit() else (1, unit)


def perfetto_events(run: TraceRun) -> dict[str, Any]:
    """The trace-event JSON object for ``run`` (see the module docstring)."""
    tracks = _Tracks(run)
    events: list[dict[str, Any]] = []
    for t in sorted(run.tasks, key=lambda t: (t.begin or 0.0, t.id)):
        begin, end = t.begin, t.ended
        if begin is None or end is None:
            continue
        ts = (begin - run.t0) * US
        dur = max(0.0, end - begin) * US
        args = {"id": t.id, "kind": t.kind, "state": t.state}
        for slot in t.slots:
            units = [("core", str(c)) for c in slot.cores] + [("gpu", g) for g in slot.gpus]
            for kind, unit in units:
                pid, tid = tracks.tid(slot.node, kind, unit)
                events.append({"ph": "X", "name": t.name, "cat": t.kind, "pid": pid,
                               "tid": tid, "ts": round(ts, 3), "dur": round(dur, 3),
                               "args": args})
    return {"traceEvents": tracks.metadata() + events, "displayTimeUnit": "ms",
            "otherData": {"policy": run.policy, "epoch": run.epoch, "source": str(run.path)}}


def export_perfetto(run_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the Perfetto JSON of ``run_dir``'s trace to ``out_path`` (default
    ``run_dir/trace.perfetto.json``); returns the path written."""
    run = load_trace(run_dir)
    out = Path(out_path) if out_path is not None else run.path.parent / "trace.perfetto.json"
    try:
        out.write_text(json.dumps(perfetto_events(run), separators=(",", ":")))
    except OSError as e:
        raise SpecError(f"{out}: cannot write the Perfetto trace: {e}") from None
    return out
