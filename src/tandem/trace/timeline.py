"""What a report draws: one lane per core and per GPU, bars per task, utilisation curves.

Contract: pure functions over a :class:`~tandem.trace.records.TraceRun` returning frozen values;
no I/O, no plotting. :mod:`tandem.trace.report` (HTML) and :mod:`tandem.trace.figures` (PNG)
draw what these return, so the page and the PNGs always show the same bars.

- Times are seconds since the run's *origin*, its first beginning (as for the makespan).
- Lanes: every core of every node (``node:c3``) in platform order, then every GPU
  (``node:g0``); units a slot names that the header does not list get lanes of their own at
  the end of their resource's lanes. Above ``max_lanes`` lanes, consecutive lanes of the same
  resource are grouped ``k`` to one (``k`` as small as fits) and a grouped lane's bars show
  when at least one of its units was busy.
- A *piece* is one task on one unit (a task on 2 cores and 1 GPU gives 3); tasks that never
  ran give none. Up to ``max_bars`` pieces, every piece is drawn as its own bar.
- *Aggregation*, above ``max_bars`` pieces: with a pixel ``px = makespan / width`` (a nominal
  2000 px width), walking each lane in time order, a piece joins the bar before it when the gap
  between them is under ``px`` and either they are of the same kind and mark, or both are
  shorter than ``px`` (a bar of several kinds is drawn as :data:`MIXED`). While more than
  ``max_bars`` bars remain, ``px`` doubles. A bar counts the pieces it stands for, so no piece
  is lost: the counts add up to :attr:`Timeline.pieces`.
- Marks: ``"failed"`` for tasks that ended failed or timed out, ``"cancelled"`` for tasks
  cancelled while running; a merged bar carries the most severe mark of its pieces.
- Steering marks: one per steering action of the trace (who decided what, when), at its time
  since the origin, with a line of text for people; at most ``max_marks`` (the first ones).
- Utilisation curves: busy units / capacity, the exact step function when it has at most
  ``max_points`` steps, else time-weighted means over ``max_points`` equal bins (so the mean
  of the curve over the makespan is the run's utilisation either way).
Imports: tandem.model.utilisation, tandem.trace.records.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tandem.model.utilisation import ResourceName, busy_series
from tandem.trace.records import TracedTask, TraceRun

WIDTH_PX = 2000
MAX_BARS = 50_000
MAX_LANES = 1_000
MAX_POINTS = 2_000
MAX_MARKS = 2_000
MIXED = "several kinds"
MARKS = ("", "cancelled", "failed")          # in rising severity
_MARK_OF_STATE = {"failed": "failed", "timed_out": "failed", "cancelled": "cancelled"}


@dataclass(frozen=True, slots=True)
class Lane:
    """One row of the timeline: a core or a GPU (or a group of them, see ``units``)."""

    label: str
    resource: ResourceName
    units: tuple[str, ...]
    """The ``node:unit`` labels it stands for (one unless lanes were grouped)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One drawn rectangle: ``pieces`` task-on-unit intervals merged (1 if not merged)."""

    lane: int
    start: float
    end: float
    kind: str
    mark: str
    pieces: int
    label: str
    """The task's name when ``pieces == 1``, else ``""``."""


@dataclass(frozen=True, slots=True)
class SteerMark:
    """A steering action on the timeline: ``t`` seconds since the origin."""

    t: float
    action: str
    text: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """The lanes and bars of one run (see the module docstring)."""

    origin: float
    span: float
    lanes: tuple[Lane, ...]
    bars: tuple[Bar, ...]
    kinds: tuple[str, ...]
    """Every kind of the run, sorted (also those that never ran)."""
    pieces: int
    tasks_drawn: int
    resolution: float
    """The merge distance ``px`` in seconds; 0.0 when every piece is its own bar."""
    lanes_per_group: int
    steering: tuple[SteerMark, ...] = ()
    steering_total: int = 0
    """Steering actions in the trace (``steering`` holds the first ``max_marks``)."""

    @property
    def aggregated(self) -> bool:
        return self.resolution > 0.0 or self.lanes_per_group > 1


@dataclass(frozen=True, slots=True)
class Curve:
    """Busy share of one resource over time: ``value[i]`` holds from ``t[i]`` to ``t[i+1]``
    (the last to the end of the run, ``span``)."""

    resource: ResourceName
    capacity: int
    t: tuple[float, ...]
    value: tuple[float, ...]
    bin_width: float
    """0.0 for the exact step function, else the width of the averaging bins."""
    span: float


def mark_of(state: str) -> str:
    """The mark a task's final state gives its bars (see the module docstring)."""
    return _MARK_OF_STATE.get(state, "")


def origin_of(run: TraceRun) -> float:
    """The run's first beginning (its clock's value at time 0 of the report), or ``t0``."""
    return min((t.begin for t in run.tasks if t.begin is not None and t.ended is not None),
               default=run.t0)


def _unit_key(unit: str) -> tuple[int, int | str]:
    return (0, int(unit)) if unit.isdigit() else (1, unit)


def _lane_units(run: TraceRun) -> dict[ResourceName, list[tuple[str, str]]]:
    """``(node, unit)`` per resource: the platform's, then the extra ones the slots name."""
    units: dict[ResourceName, list[tuple[str, str]]] = {
        "cores": [(n.name, str(c)) for n in run.nodes for c in n.cores],
        "gpus": [(n.name, g) for n in run.nodes for g in n.gpus]}
    known = {r: set(us) for r, us in units.items()}
    extra: dict[ResourceName, set[tuple[str, str]]] = {"cores": set(), "gpus": set()}
    for t in run.tasks:
        for s in t.slots:
            extra["cores"].update((s.node, str(c)) for c in s.cores)
            extra["gpus"].update((s.node, g) for g in s.gpus)
    for r in units:
        units[r] += sorted(extra[r] - known[r], key=lambda nu: (nu[0], _unit_key(nu[1])))
    return units


def lanes_of(run: TraceRun, max_lanes: int = MAX_LANES
             ) -> tuple[tuple[Lane, ...], dict[tuple[str, str, str], int], int]:
    """The lanes, the lane index of each ``(resource, node, unit)``, and the group size."""
    units = _lane_units(run)
    total = sum(len(us) for us in units.values())
    k = max(1, math.ceil(total / max(1, max_lanes)))
    while sum(math.ceil(len(us) / k) for us in units.values()) > max_lanes:
        k += 1
    lanes: list[Lane] = []
    index: dict[tuple[str, str, str], int] = {}
    for res, us in units.items():
        letter = "c" if res == "cores" else "g"
        for i in range(0, len(us), k):
            group = us[i:i + k]
            labels = tuple(f"{node}:{letter}{u}" for node, u in group)
            label = labels[0] if len(labels) == 1 else f"{labels[0]}…{labels[-1]}"
            for node, u in group:
                index[(res, node, u)] = len(lanes)
            lanes.append(Lane(label, res, labels))
    return tuple(lanes), index, k


_Piece = tuple[float, float, str, str, str]     # start, end, kind, mark, name


def _pieces(tasks: Iterable[TracedTask], index: dict[tuple[str, str, str], int],
            origin: float, n_lanes: int) -> tuple[list[list[_Piece]], int, int]:
    per_lane: list[list[_Piece]] = [[] for _ in range(n_lanes)]
    count = drawn = 0
    for t in tasks:
        b, e = t.begin, t.ended
        if b is None or e is None:
            continue
        drawn += 1
        piece = (b - origin, e - origin, t.kind, mark_of(t.state), t.name)
        for s in t.slots:
            for c in s.cores:
                per_lane[index[("cores", s.node, str(c))]].append(piece)
            for g in s.gpus:
                per_lane[index[("gpus", s.node, g)]].append(piece)
            count += len(s.cores) + len(s.gpus)
    for lane in per_lane:
        lane.sort(key=lambda p: (p[0], p[1]))
    return per_lane, count, drawn


def _worse(a: str, b: str) -> str:
    return a if MARKS.index(a) >= MARKS.index(b) else b


def merge_lane(lane: int, pieces: Sequence[_Piece], px: float) -> list[Bar]:
    """The bars of one lane's pieces (sorted by start) merged at distance ``px``."""
    out: list[Bar] = []
    if not pieces:
        return out
    s, e, kind, mark, name = pieces[0]
    n = 1
    for ps, pe, pkind, pmark, pname in pieces[1:]:
        if ps - e < px and ((pkind == kind and pmark == mark) or (e - s < px and pe - ps < px)):
            e = max(e, pe)
            kind = kind if pkind == kind else MIXED
            mark = _worse(mark, pmark)
            n += 1
            continue
        out.append(Bar(lane, s, e, kind, mark, n, name if n == 1 else ""))
        s, e, kind, mark, name, n = ps, pe, pkind, pmark, pname, 1
    out.append(Bar(lane, s, e, kind, mark, n, name if n == 1 else ""))
    return out


def timeline(run: TraceRun, *, width: int = WIDTH_PX, max_bars: int = MAX_BARS,
             max_lanes: int = MAX_LANES, origin: float | None = None,
             max_marks: int = MAX_MARKS) -> Timeline:
    """The lanes and bars of ``run`` (see the module docstring)."""
    org = origin_of(run) if origin is None else origin
    lanes, index, k = lanes_of(run, max_lanes)
    per_lane, count, drawn = _pieces(run.tasks, index, org, len(lanes))
    span = max((t.ended - org for t in run.tasks
                if t.begin is not None and t.ended is not None), default=0.0)
    px = 0.0 if count <= max_bars and k == 1 else (span / max(1, width) or 1.0)
    while True:
        bars = [b for i, ps in enumerate(per_lane) for b in merge_lane(i, ps, px)]
        if len(bars) <= max_bars or px >= span or len(bars) <= len(lanes):
            break
        px = max(px * 2, 1e-9)
    names = {t.id: t.name for t in run.tasks} if run.steering else {}
    marks = tuple(
        SteerMark(s.t - org, s.action, f"{s.t - org:.3f} s: " + s.describe().replace(
            f" task {s.task}", f" task {s.task} ({names[s.task]})" if s.task in names else
            f" task {s.task}", 1))
        for s in run.steering[:max_marks])
    return Timeline(origin=org, span=span, lanes=lanes, bars=tuple(bars),
                    kinds=tuple(sorted({t.kind for t in run.tasks})), pieces=count,
                    tasks_drawn=drawn, resolution=px, lanes_per_group=k, steering=marks,
                    steering_total=len(run.steering))


def curve(run: TraceRun, resource: ResourceName, *, origin: float, span: float,
          max_points: int = MAX_POINTS) -> Curve:
    """Busy share of ``resource`` over ``[origin, origin + span]`` (see the module docstring)."""
    cap = run.total_cores if resource == "cores" else run.total_gpus
    series = busy_series(run.tasks, resource)
    if not cap or span <= 0 or not series:
        return Curve(resource, cap, (0.0,), (0.0,), 0.0, max(span, 0.0))
    pts = [(t - origin, busy / cap) for t, busy in series]
    if len(pts) <= max_points:
        if pts[0][0] > 0:
            pts.insert(0, (0.0, 0.0))
        return Curve(resource, cap, tuple(t for t, _ in pts), tuple(v for _, v in pts),
                     0.0, span)
    width = span / max_points
    acc = [0.0] * max_points
    for (t, v), (t_next, _) in itertools.pairwise(pts):
        if v == 0.0 or t_next <= t:
            continue
        i = min(max_points - 1, max(0, int(t / width)))
        while t < t_next and i < max_points:
            edge = min(t_next, (i + 1) * width) if i < max_points - 1 else t_next
            acc[i] += v * (edge - t)
            t, i = edge, i + 1
    return Curve(resource, cap, tuple(i * width for i in range(max_points)),
                 tuple(a / width for a in acc), width, span)


def mean_of(c: Curve) -> float:
    """The time-weighted mean of a curve over its span (the run's utilisation)."""
    if c.span <= 0:
        return 0.0
    edges = [*c.t[1:], c.span]
    return sum(v * (b - a) for a, b, v in zip(c.t, edges, c.value, strict=True)) / c.span
