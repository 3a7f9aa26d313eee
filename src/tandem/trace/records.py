"""Typed, frozen values read from a run directory's ``trace.jsonl``.

Contract: :func:`load_trace` reads a run directory (or a trace file) written by
:class:`~tandem.trace.jsonl.JsonlTrace` — by the runtime or the simulator, same schema — and
returns a :class:`TraceRun`: the run header (the :class:`~tandem.spec.platform.Platform`, policy,
clock origin), one :class:`TracedTask` per ``"end"`` record and one :class:`TracedSteer` per
``"steer"`` record, in file order. Only I/O is reading the file.

- A missing file, a file without a ``"run"`` header, or a record that is not valid JSON (other
  than a torn *last* line, which is skipped as :func:`~tandem.trace.jsonl.read_trace` does) or
  lacks a field raises :class:`~tandem.errors.SpecError` naming the file and the line.
- Times are the driver's clock (seconds, monotonic for the runtime, virtual for the simulator);
  ``epoch`` is the wall-clock time that corresponds to the header's ``t``.
Imports: tandem.errors, tandem.spec.platform, tandem.trace.jsonl.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import SpecError
from tandem.spec.platform import Node, Platform
from tandem.trace.jsonl import TRACE_FILE


@dataclass(frozen=True, slots=True)
class TracedSlot:
    """The cores and GPUs a task held on one node."""

    node: str
    cores: tuple[int, ...]
    gpus: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TracedTask:
    """One task as it ended (one ``"end"`` record)."""

    id: int
    name: str
    kind: str
    state: str
    submitted: float
    ready: float | None
    launched: float | None
    started: float | None
    ended: float | None
    attempts: int
    deps: tuple[int, ...]
    cores: int
    gpus: int
    slots: tuple[TracedSlot, ...]
    failure: dict[str, Any] | None
    by: str = "user"
    """Who submitted it: a person (``"user"``) or an agent's name."""
    peak_mb: float | None = None
    """Its last attempt's peak memory in MiB, where its backend measured it."""
    estimate: float | None = None
    """Its estimate in seconds (``None``: it had none)."""
    estimated: str | None = None
    """Where the estimate came from: ``"user"`` or ``"learned"`` (from the history)."""
    features: dict[str, Any] | None = None
    """What the user said of its size (``features={...}``)."""

    @property
    def begin(self) -> float | None:
        """When it began running: started, or launched if no start was reported."""
        return self.started if self.started is not None else self.launched

    @property
    def duration(self) -> float | None:
        """Running time (``ended - begin``), None if it never ran."""
        b = self.begin
        return None if b is None or self.ended is None else self.ended - b


@dataclass(frozen=True, slots=True)
class TracedData:
    """A change of the bytes of results kept by reference on ``node``: task ``task``'s result
    kept (``change`` > 0) or freed (< 0); ``held``: the node's total after it."""

    t: float
    task: int
    node: str
    change: int
    held: int


@dataclass(frozen=True, slots=True)
class TracedSteer:
    """One steering action as it took effect: who decided what, when. ``task`` is ``None`` for
    a pool move; ``details`` holds the action's own values (``release``; ``priority`` and
    ``was``; ``grace`` and ``signal``; ``from``, ``to``, ``cores`` and ``gpus``)."""

    t: float
    action: str
    task: int | None
    by: str
    reason: str
    details: dict[str, Any]

    def describe(self) -> str:
        """One line for people: ``"agent paused task 7 (release=True): why"``."""
        what = {"cancel": "cancelled", "pause": "paused", "resume": "resumed",
                "preempt": "preempted", "priority": "re-prioritised",
                "move": "moved quota"}.get(self.action, self.action)
        target = f" task {self.task}" if self.task is not None else ""
        extra = ", ".join(f"{k}={v}" for k, v in self.details.items())
        text = f"{self.by} {what}{target}" + (f" ({extra})" if extra else "")
        return f"{text}: {self.reason}" if self.reason else text


_STEER_KEYS = frozenset({"ev", "t", "action", "task", "by", "reason"})


@dataclass(frozen=True, slots=True)
class TracedPool:
    """A resource pool's quota when the run began (moves are steering records)."""

    name: str
    cores: int
    gpus: int


@dataclass(frozen=True, slots=True)
class TraceRun:
    """A whole trace: header, tasks and steering actions."""

    path: Path
    platform: Platform
    policy: str
    t0: float
    epoch: float
    tasks: tuple[TracedTask, ...]
    closed: float | None
    steering: tuple[TracedSteer, ...] = ()
    pools: tuple[TracedPool, ...] = ()
    data: tuple[TracedData, ...] = ()

    def data_peak(self) -> dict[str, int]:
        """The most bytes of results kept by reference each node held at once."""
        peak: dict[str, int] = {}
        for d in self.data:
            peak[d.node] = max(peak.get(d.node, 0), d.held)
        return peak

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.platform.nodes

    @property
    def total_cores(self) -> int:
        return self.platform.total_cores

    @property
    def total_gpus(self) -> int:
        return self.platform.total_gpus


def trace_path(run_dir: str | Path) -> Path:
    """The trace file of a run directory (or the file itself)."""
    p = Path(run_dir)
    return p / TRACE_FILE if p.is_dir() else p


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def _slots(raw: Any) -> tuple[TracedSlot, ...]:
    return tuple(TracedSlot(str(node), tuple(int(c) for c in cores), tuple(str(g) for g in gpus))
                 for node, cores, gpus in raw)


def _task(r: dict[str, Any]) -> TracedTask:
    failure = r.get("failure")
    return TracedTask(
        id=int(r["id"]), name=str(r["name"]), kind=str(r["kind"]), state=str(r["state"]),
        submitted=float(r["submitted"]), ready=_opt(r.get("ready")),
        launched=_opt(r.get("launched")), started=_opt(r.get("started")),
        ended=_opt(r.get("ended")), attempts=int(r.get("attempts", 0)),
        deps=tuple(int(d) for d in r.get("deps", ())), cores=int(r.get("cores", 0)),
        gpus=int(r.get("gpus", 0)), slots=_slots(r.get("slots", ())),
        failure=dict(failure) if isinstance(failure, dict) else None,
        by=str(r.get("by", "user")), peak_mb=_opt(r.get("peak_mb")),
        estimate=_opt(r.get("estimate")),
        estimated=None if r.get("estimated") is None else str(r["estimated"]),
        features=dict(r["features"]) if isinstance(r.get("features"), dict) else None)


def _steer(r: dict[str, Any]) -> TracedSteer:
    task = r.get("task")
    return TracedSteer(t=float(r["t"]), action=str(r["action"]),
                       task=None if task is None else int(task), by=str(r.get("by", "")),
                       reason=str(r.get("reason", "")),
                       details={k: v for k, v in r.items() if k not in _STEER_KEYS})


def _node(n: dict[str, Any]) -> Node:
    return Node(name=str(n["name"]), cores=tuple(int(c) for c in n.get("cores", ())),
                gpus=tuple(str(g) for g in n.get("gpus", ())),
                virtual_gpus=bool(n.get("virtual_gpus", False)))


def load_trace(run_dir: str | Path) -> TraceRun:
    """Read ``run_dir/trace.jsonl`` (or a trace file) into a :class:`TraceRun`."""
    path = trace_path(run_dir)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise SpecError(f"{path}: no trace here (expected a run directory with "
                        f"{TRACE_FILE})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read the trace: {e}") from None
    header: dict[str, Any] | None = None
    tasks: list[TracedTask] = []
    steering: list[TracedSteer] = []
    data: list[TracedData] = []
    closed: float | None = None
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last:
                continue          # torn last line: the run crashed mid-write
            raise SpecError(f"{path}:{i + 1}: not a JSON record: {e.msg}") from None
        try:
            ev = rec["ev"]
            if ev == "run":
                header = rec
            elif ev == "end":
                tasks.append(_task(rec))
            elif ev == "steer":
                steering.append(_steer(rec))
            elif ev == "data":
                data.append(TracedData(t=float(rec["t"]), task=int(rec["task"]),
                                       node=str(rec["node"]), change=int(rec["change"]),
                                       held=int(rec["held"])))
            elif ev == "close":
                closed = float(rec["t"])
        except (KeyError, TypeError, ValueError) as e:
            raise SpecError(f"{path}:{i + 1}: malformed trace record: {e!r}") from None
    if header is None:
        raise SpecError(f"{path}: no 'run' record: not a tandem trace")
    try:
        platform = Platform(nodes=tuple(_node(n) for n in header.get("platform", ())))
        return TraceRun(path=path, platform=platform, policy=str(header.get("policy", "")),
                        t0=float(header.get("t", 0.0)), epoch=float(header.get("epoch", 0.0)),
                        tasks=tuple(tasks), closed=closed, steering=tuple(steering),
                        data=tuple(data),
                        pools=tuple(TracedPool(str(name), int(q["cores"]), int(q["gpus"]))
                                    for name, q in header.get("pools", {}).items()))
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError(f"{path}: malformed 'run' record: {e!r}") from None
