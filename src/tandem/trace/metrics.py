"""Metrics of an executed run, read from its trace (:mod:`tandem.trace.records`).

Contract: pure functions over :class:`~tandem.trace.records.TraceRun` /
:class:`~tandem.trace.records.TracedTask` values returning frozen dataclasses; no I/O.
Makespan and utilisation are :mod:`tandem.model.utilisation`'s own functions (they read any
finished-task shape), so a trace and the in-memory records of the same run give the same
numbers:

- A task *ran* if it has an end and a beginning (``started``, else ``launched``).
- *Makespan*: first beginning to last end over the tasks that ran (0 if none ran).
- *Utilisation* of ``r`` in ``{"cores", "gpus"}``: ``sum r_t * duration_t`` over
  ``capacity_r * makespan``; per kind, the same sum restricted to that kind's tasks (so the
  kinds add up to the total). 0 when the platform has none of ``r``.
- *Concurrency*: ``(t, n)`` points, ``n`` tasks running from ``t`` (seconds since the first
  beginning) until the next point; only where the count changes; the last point is 0.
- Latencies: scheduling ``ready -> launched``, launch ``launched -> started``, completion
  ``submitted -> ended``, over the tasks that have both times; percentiles interpolate
  linearly between order statistics.
- *Critical path*: from the task that ended last, walk back through the dependency that ended
  last, until a task without (traced) dependencies; reported first to last.
Imports: tandem.model.stats, tandem.model.utilisation, tandem.trace.records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tandem.model.stats import quantile
from tandem.model.utilisation import makespan, utilisation_over
from tandem.trace.records import TracedTask, TraceRun


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a sample of durations or latencies (seconds); zeros when ``count == 0``."""

    count: int
    mean: float
    median: float
    p95: float
    max: float


@dataclass(frozen=True, slots=True)
class KindSummary:
    """Per-kind counts and running-time statistics."""

    kind: str
    count: int
    states: dict[str, int]
    duration: Stats


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The executed critical path: task ids first to last, and the time it spans."""

    ids: tuple[int, ...]
    names: tuple[str, ...]
    length: float


@dataclass(frozen=True, slots=True)
class TraceMetrics:
    """Everything :func:`summarize` computes for one run."""

    tasks: int
    ran: int
    states: dict[str, int]
    makespan: float
    utilisation: dict[str, float]
    utilisation_by_kind: dict[str, dict[str, float]]
    concurrency: tuple[tuple[float, int], ...]
    peak_concurrency: int
    scheduling_latency: Stats
    launch_latency: Stats
    completion_latency: Stats
    critical_path: CriticalPath
    kinds: tuple[KindSummary, ...]


def stats(values: Iterable[float]) -> Stats:
    """Count, mean, median, p95 and max of a sample."""
    xs = list(values)
    if not xs:
        return Stats(0, 0.0, 0.0, 0.0, 0.0)
    return Stats(len(xs), sum(xs) / len(xs), quantile(xs, 0.5), quantile(xs, 0.95), max(xs))


def _span(t: TracedTask) -> tuple[float, float] | None:
    b = t.begin
    return None if b is None or t.ended is None else (b, t.ended)


def utilisation(run: TraceRun, tasks: Iterable[TracedTask] | None = None) -> dict[str, float]:
    """``{"cores": U, "gpus": U}`` of ``tasks`` (default: all) over the whole run's makespan."""
    return utilisation_over(run.tasks if tasks is None else tasks,
                            {"cores": run.total_cores, "gpus": run.total_gpus},
                            makespan(run.tasks))


def utilisation_by_kind(run: TraceRun) -> dict[str, dict[str, float]]:
    """Per kind, its share of each resource over the run's makespan."""
    kinds = sorted({t.kind for t in run.tasks})
    return {k: utilisation(run, [t for t in run.tasks if t.kind == k]) for k in kinds}


def concurrency(tasks: Iterable[TracedTask]) -> tuple[tuple[float, int], ...]:
    """Running tasks over time (see the module docstring)."""
    spans = [s for s in map(_span, tasks) if s is not None]
    if not spans:
        return ()
    origin = min(b for b, _ in spans)
    delta: dict[float, int] = {}
    for b, e in spans:
        delta[b] = delta.get(b, 0) + 1
        delta[e] = delta.get(e, 0) - 1
    out: list[tuple[float, int]] = []
    n = 0
    for t in sorted(delta):
        if delta[t]:
            n += delta[t]
            out.append((t - origin, n))
    return tuple(out)


def _latency(tasks: Iterable[TracedTask], a: str, b: str) -> Stats:
    xs = []
    for t in tasks:
        x, y = getattr(t, a), getattr(t, b)
        if x is not None and y is not None:
            xs.append(max(0.0, y - x))
    return stats(xs)


def scheduling_latency(tasks: Iterable[TracedTask]) -> Stats:
    """``ready -> launched``: how long ready tasks waited for the scheduler and resources."""
    return _latency(tasks, "ready", "launched")


def launch_latency(tasks: Iterable[TracedTask]) -> Stats:
    """``launched -> started``: how long the backend took to start a launched task."""
    return _latency(tasks, "launched", "started")


def completion_latency(tasks: Iterable[TracedTask]) -> Stats:
    """``submitted -> ended``: the time from submission to the end of a task."""
    return _latency(tasks, "submitted", "ended")


def critical_path(tasks: Iterable[TracedTask]) -> CriticalPath:
    """The chain of dependencies that ended last (see the module docstring)."""
    ran = {t.id: t for t in tasks if _span(t) is not None}
    if not ran:
        return CriticalPath((), (), 0.0)
    key = lambda t: (t.ended, -t.id)  # noqa: E731 - latest end, ties to the earliest id
    cur = max(ran.values(), key=key)
    chain = [cur]
    seen = {cur.id}
    while True:
        deps = [ran[d] for d in cur.deps if d in ran and d not in seen]
        if not deps:
            break
        cur = max(deps, key=key)
        seen.add(cur.id)
        chain.append(cur)
    chain.reverse()
    first, last = _span(chain[0]), _span(chain[-1])
    assert first is not None and last is not None
    return CriticalPath(tuple(t.id for t in chain), tuple(t.name for t in chain),
                        last[1] - first[0])


def _count(tasks: Iterable[TracedTask]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tasks:
        out[t.state] = out.get(t.state, 0) + 1
    return dict(sorted(out.items()))


def by_kind(tasks: Iterable[TracedTask]) -> tuple[KindSummary, ...]:
    """One :class:`KindSummary` per kind, sorted by kind; durations over the tasks that ran."""
    groups: dict[str, list[TracedTask]] = {}
    for t in tasks:
        groups.setdefault(t.kind, []).append(t)
    return tuple(
        KindSummary(k, len(ts), _count(ts),
                    stats(d for d in (t.duration for t in ts) if d is not None))
        for k, ts in sorted(groups.items()))


def summarize(run: TraceRun) -> TraceMetrics:
    """All the metrics of one run."""
    tasks = run.tasks
    conc = concurrency(tasks)
    return TraceMetrics(
        tasks=len(tasks), ran=sum(1 for t in tasks if _span(t) is not None),
        states=_count(tasks), makespan=makespan(tasks), utilisation=utilisation(run),
        utilisation_by_kind=utilisation_by_kind(run), concurrency=conc,
        peak_concurrency=max((n for _, n in conc), default=0),
        scheduling_latency=scheduling_latency(tasks), launch_latency=launch_latency(tasks),
        completion_latency=completion_latency(tasks), critical_path=critical_path(tasks),
        kinds=by_kind(tasks))


def render_summary(run: TraceRun, m: TraceMetrics) -> str:
    """A few lines of text for people (what ``tandem trace summary`` prints)."""
    out: list[str] = []
    states = ", ".join(f"{n} {s}" for s, n in m.states.items())
    out.append(f"{run.path}: {m.tasks} tasks ({states}), {m.ran} ran; policy {run.policy}")
    u = ", ".join(f"U_{k} {v:.1%}" for k, v in m.utilisation.items()
                  if k != "gpus" or run.total_gpus)
    out.append(f"makespan {m.makespan:.3f} s (first start to last end); {u}; "
               f"peak concurrency {m.peak_concurrency}")
    for label, st in (("scheduling (ready->launched)", m.scheduling_latency),
                      ("launch (launched->started)", m.launch_latency),
                      ("completion (submitted->ended)", m.completion_latency)):
        out.append(f"  {label}: median {st.median:.4f} s, p95 {st.p95:.4f} s")
    cp = m.critical_path
    out.append(f"critical path ({cp.length:.3f} s): {' -> '.join(cp.names) or '-'}")
    for k in m.kinds:
        d = k.duration
        ku = m.utilisation_by_kind.get(k.kind, {})
        out.append(f"  {k.kind}: {k.count} tasks, duration mean {d.mean:.3f} / median "
                   f"{d.median:.3f} / p95 {d.p95:.3f} s; U_cores {ku.get('cores', 0.0):.1%}")
    if run.data:
        kept = sum(1 for d in run.data if d.change > 0)
        peaks = ", ".join(f"{node} {peak / 1e6:.1f} MB"
                          for node, peak in sorted(run.data_peak().items()))
        out.append(f"results kept by reference: {kept}; most held at once: {peaks}")
    return "\n".join(out)
