"""The DeepDriveMD campaign driver: simulations steered by training and outlier detection.

Contract: :func:`run_campaign` runs one campaign (``sync`` or ``async``) in a tandem session on
``platform`` and returns a :class:`CampaignRun` with every segment and ML round it ran. Per
round k: one segment per lineage ``S{k}.{j}``, submitted when that lineage may go on, then
``A{k}`` (aggregate every segment so far, or the newest ``last_n``; submitted when the round's
segments are done and agent ``I{k-1}`` has published), ``M{k}`` (train, warm-started from
``M{k-1}``), ``I{k}`` (embed, LOF, re-rank by RMSD, publish restart points).

- ``sync`` (DeepDriveMD-F): segment k of every lineage starts after agent ``I{k-1}``; each
  lineage j restarts from entry j of that round's restart list. Every stage is a barrier.
- ``async``: segment k of lineage j starts as soon as its segment k-1 is done and agent
  ``I{k-1-max_staleness}`` has published (default staleness 1: one round of ML may still be
  running). **Staleness policy**: a segment starts from the newest restart list published at
  the moment it is submitted, if this lineage has not used that list yet (entry j of it);
  otherwise it continues its own trajectory from its last frame. So restarts are at most
  ``max_staleness`` rounds old, and a lineage never restarts twice from the same list.

**Data** (``data`` in the configuration): with ``files`` the stages hand each other files
(segment HDF5, the round's aggregated HDF5, checkpoints, and a restart's frame read back from
its DCD); with ``memory`` every hand-off is a tandem result kept by reference in shared
memory: a segment returns its per-frame arrays and coordinates (:data:`MEMORY`), aggregation
receives the segments' futures, training and the agent receive the aggregation's and
training's, and a segment receives the agent's result (or its own previous segment's) and
the index of the frame it starts from. With ``stream`` (:data:`STREAM`) the hand-offs are
those of ``memory``, except that each segment also puts every frame into its round's tandem
stream ``round{k}`` as soon as it is written, and every aggregation ``A{k}`` is submitted at
the start, with no cores, reading its stream while the round's segments run (it starts once
``A{k-1}``, whose frames it extends, has ended); ``M{k}`` is submitted once the round's
segments are done. ``stuck`` cannot be enabled with it (an ended writer fails its stream).
The decisions are the same in every mode; only the path of the data differs. Each stage's
file bytes (:mod:`.fsio`) are summed per stage in :attr:`CampaignRun.io`, and the bytes
tandem kept in shared memory in :attr:`CampaignRun.kept`.

All stage functions run as tandem tasks in warm workers, pinned to the cores they are placed on
(OpenMM threads and torch threads follow the placement; a placed GPU is used). ``functions``
is the stage set it submits (:data:`REAL`; :mod:`tandem_apps.ddmd.mock` gives sleeping ones).
The driver reads the event loop's clock, and ``opener`` makes its session (default:
:func:`open_here`, this machine's processes), so the same steering runs unchanged on tandem's
virtual-time loop with modelled stages (``tandem.sim.open_simulated_session``): how the app
predicts a campaign before running it (:mod:`tandem_apps.ddmd.predict`) and how the tests
check its decisions whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tandem
from tandem import Platform, TaskFuture
from tandem.errors import TaskCancelled
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.fsio import FileIO
from tandem_apps.ddmd.runs import CampaignRun as CampaignRun  # re-exported: the campaign's API
from tandem_apps.ddmd.runs import Round as Round
from tandem_apps.ddmd.runs import Segment as Segment
from tandem_apps.ddmd.sessions import (  # re-exported: the campaign's API
    MEMORY as MEMORY,
)
from tandem_apps.ddmd.sessions import (
    REAL as REAL,
)
from tandem_apps.ddmd.sessions import (
    STREAM as STREAM,
)
from tandem_apps.ddmd.sessions import (
    Opener as Opener,
)
from tandem_apps.ddmd.sessions import (
    StageFunctions as StageFunctions,
)
from tandem_apps.ddmd.sessions import (
    journal_bytes as journal_bytes,
)
from tandem_apps.ddmd.sessions import (
    open_here as open_here,
)
from tandem_apps.ddmd.sessions import (
    open_in_memory as open_in_memory,
)
from tandem_apps.ddmd.stuck import Progress
from tandem_apps.ddmd.types import (
    AgentResult,
    RestartPoint,
    SegmentFrames,
    SegmentResult,
    TrainState,
)

ModeName = Literal["sync", "async"]
@dataclass
class _State:
    """What the driver knows while it runs (one event loop; no locks needed)."""

    t0: float
    published: list[tuple[int, tuple[RestartPoint, ...]]] = field(default_factory=list)
    used: dict[int, int] = field(default_factory=dict)   # lineage -> newest round it used
    agent_done: list[asyncio.Future[TaskFuture]] = field(default_factory=list)
    finished: list[list[TaskFuture]] = field(default_factory=list)  # done segments per round
    generation: list[list[SegmentResult | None]] = field(default_factory=list)
    generation_done: list[asyncio.Event] = field(default_factory=list)
    outputs: dict[int, list[TaskFuture]] = field(default_factory=dict)  # lineage -> segments
    segments: list[Segment] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    durations: dict[str, list[float]] = field(default_factory=dict)
    progress: dict[int, Progress] = field(default_factory=dict)
    running: dict[int, tuple[TaskFuture, bool]] = field(default_factory=dict)  # own frame?
    kills: dict[int, str] = field(default_factory=dict)  # task id -> why it was ended
    killed: list[tuple[int, int, str, float]] = field(default_factory=list)
    agents: list[TaskFuture] = field(default_factory=list)  # agent task of each round
    io: dict[str, FileIO] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def choose(self, lineage: int, previous: SegmentResult | None, *, stuck: bool = False
               ) -> tuple[RestartPoint | None, int | None]:
        """The start of a lineage's next segment, by the staleness policy above; a ``stuck``
        lineage takes an outlier of the newest list even if it used that list before."""
        start, rnd, _ = self.pick(lineage, previous, stuck=stuck)
        return start, rnd

    def pick(self, lineage: int, previous: SegmentResult | None, *, stuck: bool = False
             ) -> tuple[RestartPoint | None, int | None, int]:
        """:meth:`choose`, with the index of the start in its list (or its frame in
        ``previous``)."""
        if self.published:
            rnd, points = self.published[-1]
            if points and (stuck or self.used.get(lineage, -1) < rnd):
                self.used[lineage] = rnd
                shift = sum(1 for k in self.killed if k[0] == lineage)
                i = (lineage + shift) % len(points)
                return points[i], rnd, i
        if previous is None:
            return None, None, 0
        point = stages.last_frame(previous)
        return point, None, point.frame

    def count(self, stage: str, fut: TaskFuture, value: Any) -> None:
        """Add a finished task's file bytes and kept bytes to its stage's."""
        io = getattr(value, "io", None)
        if isinstance(io, FileIO):
            self.io[stage] = self.io.get(stage, FileIO()) + io
        ref = fut.ref
        if ref is not None:
            self.kept[stage] = self.kept.get(stage, 0) + int(ref.nbytes)

    def end_stuck(self, session: tandem.Session, rnd: int, segments: int) -> None:
        """Fresh restart points exist: end the running segment of every stuck lineage that is
        still sampling its own basin (it restarts from one of them)."""
        for j, (fut, own_frame) in self.running.items():
            if own_frame and not fut.done() and self.progress[j].stuck(segments):
                why = (f"lineage {j} stuck: no progress in RMSD or native contacts for "
                       f"{self.progress[j].stalled} segments; restarting from round {rnd}'s "
                       f"outliers")
                self.kills[fut.task_id] = why
                session.cancel(fut, why, by="stuck-lineage policy")


def segment_frames(cfg: CampaignConfig) -> int:
    """Frames one segment of the configuration writes."""
    return max(1, round(cfg.md.segment_ps / cfg.md.report_interval_ps))


def round_frames(cfg: CampaignConfig, k: int) -> int:
    """Frames aggregation ``A{k}`` gathers (every segment of rounds 0..k, or the newest
    ``last_n``): what training ``M{k}`` and agent ``I{k}`` work on."""
    segments = cfg.simulations * (k + 1)
    if cfg.aggregation.last_n:
        segments = min(segments, cfg.aggregation.last_n)
    return segments * segment_frames(cfg)


def features(cfg: CampaignConfig, mode: str, stage: str, k: int = 0,
             segment_ps: float | None = None) -> dict[str, float | int | str]:
    """What a task's duration depends on (its ``features=``, kept in tandem's task history):
    the mode (which sets what runs beside it), the MD per segment, the frames and epochs of
    the ML stages of round ``k``, and ``data`` when the stages do not hand over files."""
    data: dict[str, str] = {"data": cfg.data} if cfg.data != "files" else {}
    if stage == "simulation":
        return {"mode": mode, "ps": cfg.md.segment_ps if segment_ps is None else segment_ps,
                "residues": len(cfg.sequence), **data}
    out: dict[str, float | int | str] = {"mode": mode, "frames": round_frames(cfg, k), **data}
    if stage == "training":
        out["epochs"] = cfg.training.initial_epochs if k == 0 else cfg.training.epochs
    return out


def _estimate(state: _State, stage: str, default: float) -> float:
    got = state.durations.get(stage)
    return statistics.median(got) if got else default


def ran(fut: TaskFuture) -> tuple[float, float]:
    """When a finished task began running and ended (the driver's clock)."""
    rec = fut.record
    begin = rec.started if rec.started is not None else rec.launched
    assert begin is not None and rec.ended is not None
    return begin, rec.ended


def _ran(state: _State, stage: str, fut: TaskFuture) -> tuple[float, float]:
    begin, end = ran(fut)
    state.durations.setdefault(stage, []).append(end - begin)
    return begin, end


def submit_segment(session: tandem.Session, cfg: CampaignConfig, prepared: stages.Prepared,
                   data: Path, lineage: int, segment: int, start: Any, *,
                   name: str, attempt: int = 0, functions: StageFunctions = REAL,
                   stream: str | None = None, **options: Any) -> TaskFuture:
    """Submit one MD segment of ``lineage`` (its files under ``data/md``), with the stage's
    resources; ``start``: a :class:`RestartPoint` or None (files), or a (future, index) pair
    or None (memory: :data:`stages.Origin`); ``options`` are further task options (estimate,
    after, ref); ``stream``: the stream it publishes its frames to (``data: stream``)."""
    out = data / "md" / f"lineage{lineage:03d}" / f"segment{segment:03d}"
    return session.submit(
        functions.simulate, prepared, cfg.md, lineage, segment, start,
        str(out / f"attempt{attempt}" if attempt else out),
        cfg.seed * 100_003 + lineage * 1_009 + segment + 7_919 * attempt,
        *(() if stream is None else (stream,)),
        name=name, kind="simulation", cores=cfg.md.cores,
        gpus=cfg.md.gpu_count(session.platform.total_gpus), **options)


async def run_campaign(cfg: CampaignConfig, mode: ModeName, run_dir: str | Path,
                       platform: Platform, prepared: stages.Prepared, *,
                       opener: Opener | None = None, functions: StageFunctions | None = None
                       ) -> CampaignRun:
    """Run one campaign in ``mode`` on ``platform`` from the ``prepared`` system; the trace
    and every file go to ``run_dir``; ``opener`` makes the session (default: :func:`open_here`,
    or :func:`open_in_memory` for ``data: memory``); ``functions`` are the stages it submits
    (default: :data:`REAL` or :data:`MEMORY`, by ``cfg.data``)."""
    memory = cfg.data in ("memory", "stream")
    streaming = cfg.data == "stream"
    if opener is None:
        opener = open_in_memory if memory else open_here
    fns = functions if functions is not None else (
        STREAM if streaming else MEMORY if memory else REAL)
    by_ref: dict[str, Any] = {"ref": True} if memory else {}
    rd = Path(run_dir).resolve()
    data = rd / "data"
    staleness = 0 if mode == "sync" else cfg.max_staleness
    gpus_here = platform.total_gpus
    async with opener(platform, rd) as session:
        clock = asyncio.get_running_loop().time     # time.monotonic on a real loop
        await stages.warm_workers(session, platform.total_cores, fns.warm_up, prepared,
                                  cfg.md, cfg.training, str(data / "warm-up"),
                                  light=1 if streaming else 0)
        state = _State(t0=clock())
        loop = asyncio.get_running_loop()
        state.agent_done = [loop.create_future() for _ in range(cfg.iterations)]
        state.finished = [[] for _ in range(cfg.iterations)]
        state.generation = [[None] * cfg.simulations for _ in range(cfg.iterations)]
        state.generation_done = [asyncio.Event() for _ in range(cfg.iterations)]
        stuck = cfg.stuck
        # data: stream: every round's aggregation reads its round's stream while the round's
        # segments run (no cores: it waits on the stream), from the start; each round's
        # stream ends when its last segment has closed its writer. A round's frames all fit
        # in the stream, so a segment never waits for an aggregation still reading the round
        # before.
        aggregations: list[TaskFuture] = []
        for k in range(cfg.iterations if streaming else 0):
            session.stream(f"round{k}", maxsize=segment_frames(cfg) * cfg.simulations,
                           writers=cfg.simulations)
            aggregations.append(session.submit(
                fns.aggregate, aggregations[-1] if k else None,
                str(data / "ml" / f"round{k:03d}" / "train.h5"), f"round{k}",
                cfg.aggregation.last_n, name=f"A{k}", kind="aggregation", cores=0, gpus=0,
                estimate=_estimate(state, "aggregation", cfg.mock.aggregation),
                priority=cfg.ml_priority, features=features(cfg, mode, "aggregation", k),
                **by_ref))

        async def lineage(j: int) -> None:
            previous: SegmentResult | None = None
            previous_task: list[TaskFuture] = []
            outputs = state.outputs[j] = []
            progress = state.progress[j] = Progress()
            k = attempt = 0
            while k < cfg.iterations:
                wait = k - 1 - staleness
                # Already finished, these only record the graph (trace, critical path).
                after = [*previous_task, *([await state.agent_done[wait]] if wait >= 0 else [])]
                forced = stuck.enabled and (attempt > 0 or progress.stuck(stuck.segments))
                start, rnd, index = state.pick(j, previous, stuck=forced)
                if rnd is not None:
                    progress.restarted()
                origin: Any = start
                if memory and start is not None:
                    # The coordinates travel by reference: the agent's result, or this
                    # lineage's previous segment, and which of its frames to start from.
                    origin = (state.agents[rnd] if rnd is not None else previous_task[0], index)
                fut = submit_segment(
                    session, cfg, prepared, data, j, k, origin, name=f"S{k}.{j}",
                    attempt=attempt, after=after, functions=fns,
                    estimate=_estimate(state, "simulation", cfg.mock.simulation),
                    features=features(cfg, mode, "simulation"),
                    stream=f"round{k}" if streaming else None, **by_ref)
                state.running[j] = (fut, rnd is None)
                try:
                    value = await fut
                except TaskCancelled:
                    why = state.kills.pop(fut.task_id, None)
                    if why is None:
                        raise
                    state.killed.append((j, k, why, clock() - state.t0))
                    attempt += 1
                    continue
                finally:
                    state.running.pop(j, None)
                in_memory = isinstance(value, SegmentFrames)
                result = value.result if in_memory else value
                previous, previous_task = result, [fut]
                state.finished[k].append(fut)
                state.count("simulation", fut, value)
                progress.update(result, stuck.min_rmsd_gain, stuck.min_fnc_gain)
                begin, end = _ran(state, "simulation", fut)
                state.segments.append(Segment(
                    result, begin - state.t0, end - state.t0, cfg.md.cores, rnd,
                    rmsd=value.rmsd.copy() if in_memory else None,
                    fnc=value.fnc.copy() if in_memory else None))
                state.generation[k][j] = result
                outputs.append(fut)
                if all(r is not None for r in state.generation[k]):
                    state.generation_done[k].set()
                k += 1
                attempt = 0

        def submit_aggregation(k: int) -> TaskFuture:
            newest: list[Any] = [
                r for gen in state.generation[:k + 1] for r in gen if r is not None]
            if memory:   # the same segments, in the same order, by reference
                newest = [state.outputs[j][i] for i in range(k + 1)
                          for j in range(cfg.simulations)]
            if cfg.aggregation.last_n:
                newest = newest[-cfg.aggregation.last_n:]
            return session.submit(
                fns.aggregate, newest, str(data / "ml" / f"round{k:03d}" / "train.h5"),
                name=f"A{k}", kind="aggregation", cores=cfg.aggregation.cores,
                gpus=cfg.aggregation.gpu_count(gpus_here),
                estimate=_estimate(state, "aggregation", cfg.mock.aggregation),
                priority=cfg.ml_priority, after=state.finished[k],
                features=features(cfg, mode, "aggregation", k), **by_ref)

        async def learner() -> None:
            train_prev: TaskFuture | None = None
            for k in range(cfg.iterations):
                await state.generation_done[k].wait()
                agg = aggregations[k] if streaming else submit_aggregation(k)
                epochs = cfg.training.initial_epochs if k == 0 else cfg.training.epochs
                # In memory the model goes to the agent and the next round by reference;
                # only the last round's checkpoint is written, for the user.
                keep = not memory or k == cfg.iterations - 1
                train = session.submit(
                    fns.train, agg,
                    str(data / "ml" / f"round{k:03d}" / "cvae.pt") if keep else "",
                    train_prev, epochs, cfg.training, cfg.seed + k,
                    name=f"M{k}", kind="training", cores=cfg.training.cores,
                    gpus=cfg.training.gpu_count(gpus_here),
                    estimate=_estimate(state, "training", cfg.mock.training),
                    priority=cfg.ml_priority, features=features(cfg, mode, "training", k),
                    after=state.finished[k] if streaming else (), **by_ref)
                agent = session.submit(
                    fns.agent, train, agg, str(data / "ml" / f"round{k:03d}" / "agent"),
                    cfg.outliers, cfg.candidates, cfg.agent,
                    name=f"I{k}", kind="agent", cores=cfg.agent.cores,
                    gpus=cfg.agent.gpu_count(gpus_here),
                    estimate=_estimate(state, "agent", cfg.mock.agent),
                    priority=cfg.ml_priority, features=features(cfg, mode, "agent", k),
                    **by_ref)
                result: AgentResult = await agent
                for stage, fut in (("aggregation", agg), ("training", train), ("agent", agent)):
                    _ran(state, stage, fut)
                    state.count(stage, fut, fut.result())
                published = clock() - state.t0
                state.agents.append(agent)
                state.published.append((k, result.restarts))
                trained = train.result()
                if isinstance(trained, TrainState):
                    trained = trained.result
                state.rounds.append(Round(k, trained, result, published))
                state.agent_done[k].set_result(agent)
                if stuck.enabled and result.restarts:
                    state.end_stuck(session, k, stuck.segments)
                train_prev = train

        async with asyncio.TaskGroup() as group:
            for j in range(cfg.simulations):
                group.create_task(lineage(j), name=f"lineage {j}")
            group.create_task(learner(), name="learner")
    makespan = max(s.ended for s in state.segments)
    if state.rounds:
        makespan = max(makespan, max(r.published for r in state.rounds))
    return CampaignRun(
        mode=mode, run_dir=rd, makespan=makespan,
        segments=tuple(sorted(state.segments, key=lambda s: (s.result.lineage,
                                                             s.result.segment))),
        rounds=tuple(state.rounds),
        durations={k: tuple(v) for k, v in state.durations.items()},
        killed=tuple(state.killed), data=cfg.data, io=dict(state.io), kept=dict(state.kept),
        journal=journal_bytes(rd))


def stage_medians(runs: Sequence[CampaignRun]) -> dict[str, float]:
    """Median running time per stage over ``runs`` (for prediction)."""
    pooled: dict[str, list[float]] = {}
    for run in runs:
        for stage, xs in run.durations.items():
            pooled.setdefault(stage, []).extend(xs)
    return {stage: statistics.median(xs) for stage, xs in pooled.items() if xs}
