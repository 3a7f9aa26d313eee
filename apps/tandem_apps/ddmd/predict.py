"""DeepDriveMD predicted before it runs: its own driver on tandem's virtual time.

Contract: :func:`predict` runs the campaign driver itself (:func:`~tandem_apps.ddmd.campaign.
run_campaign`, agents, staleness policy and priorities included) and the plain-MD baseline
(:func:`~tandem_apps.ddmd.baseline.run_baseline`) in a session on virtual time
(``tandem.sim.open_simulated_session``): the real stage functions are submitted, with the same
names, resources and features, and tandem's model backend gives each task a modelled duration
and the stand-in result of :data:`tandem_apps.ddmd.mock.RESULTS`. So the prediction is of the
code that will run, not of a graph drawn beside it.

Durations, per task, first that applies (:class:`StageDurations`):

1. the **task history** (``tandem.history``; ``$TANDEM_HISTORY`` or the user's data dir): the
   median duration of the done tasks of the same key (the same stage function and round:
   ``tandem_apps.ddmd.stages.simulate@S3``) with the same features (mode, MD length, frames,
   epochs) and resources; else of the same key and features in another mode;
2. a :class:`StageModel` from a **short calibration** (:func:`calibrate`, measured for real
   on the campaign's platform and resources, before the campaign): a segment of up to
   :data:`CALIBRATION_PS` on every core the lineages may use at once, gives the set-up time
   and the seconds per ps (from OpenMM's measured ns/day); two aggregations (one and two
   rounds' worth of frames) a fixed and a per-frame cost; training for 1, then
   :data:`CALIBRATION_EPOCHS` epochs on round 0's frames a fixed cost and the seconds per
   frame and epoch; the agent on both data sets a fixed and a per-frame cost; the median gap
   from a task's end to its dependent's start, the dispatch overhead added to each task.
   Scaled to each task by its features (ps, frames, epochs).

A lineage stuck in a basin is not predicted (the stand-in segments always make progress).
Imports: tandem, tandem.history.describe, tandem.history.store, tandem.sim.agents,
tandem.sim.virtual, tandem.spec.task.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tandem
from tandem import Platform, TaskFuture
from tandem.errors import SpecError
from tandem.history.describe import key_of
from tandem.history.store import HistoryStore, Row, history_dir
from tandem.sim.agents import open_simulated_session
from tandem.sim.virtual import run_virtual
from tandem.spec.resources import Resources
from tandem.spec.task import FunctionCall, TaskSpec
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.baseline import run_baseline
from tandem_apps.ddmd.campaign import (
    CampaignRun,
    ModeName,
    Opener,
    StageFunctions,
    features,
    ran,
    round_frames,
    run_campaign,
    submit_segment,
)
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.mock import RESULTS
from tandem_apps.ddmd.types import SegmentResult

CALIBRATION_PS = 5.0
"""The longest calibration segment (ps); a shorter configured segment is used as it is."""
CALIBRATION_EPOCHS = 4
"""Epochs of the second calibration training (the first has one)."""
SEEDS = 5
"""Draws of the segments' spread per predicted mode (the median run is the prediction)."""


@dataclass(frozen=True, slots=True)
class StageModel:
    """Seconds of each stage as a function of its features (see the module docstring)."""

    segment_setup: float
    segment_per_ps: float
    aggregate_fixed: float
    aggregate_per_frame: float
    train_fixed: float
    train_per_frame_epoch: float
    agent_fixed: float
    agent_per_frame: float
    overhead: float = 0.0
    segment_spread: float = 0.0
    """Relative standard deviation of a segment's duration (of the calibration's segments)."""

    def seconds(self, spec: TaskSpec) -> float:
        """The modelled duration of one task of the campaign (by kind and features)."""
        f: Mapping[str, Any] = spec.features or {}
        if spec.kind == "setup":
            return 0.0
        try:
            if spec.kind == "simulation":
                s = self.segment_setup + self.segment_per_ps * float(f["ps"])
            elif spec.kind == "aggregation":
                s = self.aggregate_fixed + self.aggregate_per_frame * float(f["frames"])
            elif spec.kind == "training":
                s = self.train_fixed + (self.train_per_frame_epoch * float(f["frames"])
                                        * float(f["epochs"]))
            elif spec.kind == "agent":
                s = self.agent_fixed + self.agent_per_frame * float(f["frames"])
            else:
                raise ValueError(f"task {spec.name!r}: no DeepDriveMD stage has kind "
                                 f"{spec.kind!r}")
        except KeyError as e:
            raise ValueError(f"task {spec.name!r} ({spec.kind}): feature {e.args[0]!r} missing "
                             "(submitted by the campaign driver with its features)") from None
        return max(0.0, s) + self.overhead

    @staticmethod
    def fixed(simulation: float, aggregation: float, training: float, agent: float
              ) -> StageModel:
        """The same seconds for every task of a stage (the ``mock`` section's)."""
        return StageModel(segment_setup=simulation, segment_per_ps=0.0,
                          aggregate_fixed=aggregation, aggregate_per_frame=0.0,
                          train_fixed=training, train_per_frame_epoch=0.0, agent_fixed=agent,
                          agent_per_frame=0.0)


class HistoryDurations:
    """Median durations of the same work in the task history (module docstring, 1.). A file
    that is not a history is one warning on the ``tandem`` logger; then it is not used."""

    def __init__(self, directory: str | Path) -> None:
        self.store = HistoryStore(directory)
        self._rows: dict[str, list[Row]] = {}

    def seconds(self, spec: TaskSpec) -> float | None:
        """The history's duration of ``spec`` (``None``: it knows none of the same work)."""
        got = self.lookup(spec)
        return None if got is None else got[0]

    def lookup(self, spec: TaskSpec) -> tuple[float, float] | None:
        """The median duration of the same work and its relative standard deviation."""
        if self.store.broken:
            return None
        key = key_of(spec)
        rows = self._rows.get(key)
        if rows is None:
            try:
                rows = self.store.samples(key) if self.store.exists() else []
            except SpecError as e:      # not a history: said once, then the calibration
                self.store.failed("read", e)
                return None
            self._rows[key] = rows
        want = dict(spec.features or {})
        r = spec.resources

        def alike(row: Row, ignore: tuple[str, ...]) -> bool:
            got = {k: v for k, v in (row.features or {}).items() if k not in ignore}
            return (row.duration is not None and row.cores == r.cores and row.gpus == r.gpus
                    and got == {k: v for k, v in want.items() if k not in ignore})

        for ignore in ((), ("mode",)):
            same = [row.duration for row in rows if alike(row, ignore) and row.duration]
            if same:
                xs = [x for x in same if x is not None]
                spread = statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 else 0.0
                return statistics.median(xs), spread
        return None


@dataclass
class StageDurations:
    """The model backend's durations: the history's, else the stage model's; counts which.
    With a ``seed``, a segment's duration is drawn around its median with its relative spread
    (the history's samples of the same work, else the calibration's segments): real segments
    never end at the same instant, and a tie decides which waiting segment gets a core."""

    model: StageModel
    history: HistoryDurations | None = None
    seed: int | None = None
    used: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> source -> tasks
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __call__(self, spec: TaskSpec) -> float:
        got, source = self.peek(spec)
        if spec.kind != "setup":
            per = self.used.setdefault(spec.kind, {})
            per[source] = per.get(source, 0) + 1
        return got

    def peek(self, spec: TaskSpec) -> tuple[float, str]:
        """A task's seconds and where they came from, without counting it."""
        if spec.kind == "setup":
            return 0.0, "none"
        got = self.history.lookup(spec) if self.history is not None else None
        source = "history" if got is not None else "calibration"
        seconds, spread = got if got is not None else (self.model.seconds(spec),
                                                       self.model.segment_spread)
        if self.seed is not None and spread > 0 and spec.kind == "simulation":
            seconds *= max(0.5, self._rng.gauss(1.0, spread))
        return seconds, source


def simulated(durations: Callable[[TaskSpec], float], *, trace: bool = True) -> Opener:
    """An opener of sessions on virtual time whose tasks take ``durations`` (seconds of a
    task's spec: a :class:`StageDurations`) and return the stand-in results; each writes its
    trace to the run directory (``trace``)."""
    def opener(platform: Platform, run_dir: Path
               ) -> AbstractAsyncContextManager[tandem.Session]:
        return open_simulated_session(platform, durations=durations, results=RESULTS,
                                      run_dir=run_dir if trace else None)
    return opener


@dataclass(frozen=True, slots=True)
class Prediction:
    """Predicted runs (virtual seconds) and where their durations came from."""

    runs: dict[str, CampaignRun]
    sources: dict[str, dict[str, int]]
    model: StageModel

    @property
    def makespans(self) -> dict[str, float]:
        return {m: r.makespan for m, r in self.runs.items()}

    @property
    def improvement(self) -> float | None:
        """I = (T_sync - T_async) / T_sync, when both modes are predicted."""
        m = self.makespans
        if "sync" in m and "async" in m and m["sync"] > 0:
            return (m["sync"] - m["async"]) / m["sync"]
        return None


def predict_campaign(cfg: CampaignConfig, mode: ModeName, platform: Platform,
                     prepared: stages.Prepared, durations: Callable[[TaskSpec], float],
                     run_dir: Path, *, functions: StageFunctions | None = None
                     ) -> CampaignRun:
    """One campaign of ``mode`` on virtual time, submitting ``functions`` (its trace in
    ``run_dir``)."""
    return run_virtual(run_campaign(cfg, mode, run_dir, platform, prepared,
                                    opener=simulated(durations), functions=functions))


def predict(cfg: CampaignConfig, platform: Platform, prepared: stages.Prepared, out_dir: Path,
            model: StageModel, *, history: str | Path | bool | None = None,
            baseline: bool | None = None, trace: bool = True, seeds: int = SEEDS
            ) -> Prediction:
    """Every configured mode (and the baseline, for the longest predicted campaign, when
    ``baseline`` or ``cfg.baseline``) on virtual time; traces in ``out_dir/predicted-<mode>``.
    ``history``: the task history's directory (``None``: tandem's default; ``False``: none);
    ``trace``: write the traces; ``seeds``: draws of the segments' spread per mode, of which
    the run with the median makespan is the prediction (its trace is written)."""
    where = history_dir(history)
    known = HistoryDurations(where) if where is not None else None
    durations = StageDurations(model, known)
    runs: dict[str, CampaignRun] = {}
    for mode in cfg.modes:
        def once(seed: int, write: bool, mode: ModeName = mode) -> tuple[CampaignRun,
                                                                          StageDurations]:
            d = StageDurations(model, known, seed=seed)
            return run_virtual(run_campaign(
                cfg, mode, out_dir / f"predicted-{mode}", platform, prepared,
                opener=simulated(d, trace=write))), d
        spans = sorted((once(seed, False)[0].makespan, seed) for seed in range(seeds))
        chosen = spans[(len(spans) - 1) // 2][1]
        runs[mode], d = once(chosen, trace)
        for stage, per in d.used.items():
            for source, n in per.items():
                into = durations.used.setdefault(stage, {})
                into[source] = into.get(source, 0) + n
    if (cfg.baseline if baseline is None else baseline) and runs:
        budget = max(r.makespan for r in runs.values())
        full, _ = durations.peek(_probe(cfg, platform))
        runs["plain-md"] = run_virtual(run_baseline(
            cfg, out_dir / "predicted-plain-md", platform, prepared, budget, estimate=full,
            opener=simulated(durations, trace=trace)))
    return Prediction(runs=runs, sources=durations.used, model=model)


def _probe(cfg: CampaignConfig, platform: Platform) -> TaskSpec:
    """A full baseline segment's spec, for its predicted duration before it runs."""
    return TaskSpec(name="P0.0", kind="simulation", work=FunctionCall(fn=stages.simulate),
                    resources=Resources(cores=cfg.md.cores,
                                        gpus=cfg.md.gpu_count(platform.total_gpus)),
                    features=features(cfg, "plain-md", "simulation"))


def replay(cfg: CampaignConfig, mode: ModeName, platform: Platform, prepared: stages.Prepared,
           measured: Path) -> CampaignRun:
    """The driver on virtual time with each task's measured duration (from the trace in
    ``measured``, by name, attempts in order): what is left of the prediction's error once
    the durations are right — the error of the driver's and scheduler's model itself."""
    from tandem.trace.records import load_trace

    took: dict[str, list[float]] = {}
    for t in sorted(load_trace(measured).tasks, key=lambda t: t.id):
        if t.kind != "setup" and t.started is not None and t.ended is not None:
            took.setdefault(t.name, []).append(t.ended - t.started)

    def seconds(spec: TaskSpec) -> float:
        if spec.kind == "setup":
            return 0.0
        got = took.get(spec.name)
        if not got:
            raise ValueError(f"replay: task {spec.name!r} did not run in {measured}")
        return got.pop(0) if len(got) > 1 else got[0]

    return run_virtual(run_campaign(cfg, mode, measured.parent / f"replayed-{mode}", platform,
                                    prepared, opener=simulated(seconds, trace=False)))


# -- calibration: a few stage tasks measured for real ------------------------------------------

def calibration_ps(cfg: CampaignConfig) -> float:
    """The calibration segment's MD: the configured segment, at most :data:`CALIBRATION_PS`
    (whole report intervals)."""
    step = cfg.md.report_interval_ps
    n = max(1, math.floor(min(cfg.md.segment_ps, CALIBRATION_PS) / step + 1e-9))
    return round(n * step, 9)


def _line(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """Fixed cost and slope through two measurements (both at least 0)."""
    slope = max(0.0, (y2 - y1) / (x2 - x1)) if x2 != x1 else 0.0
    return max(0.0, y1 - slope * x1), slope


def _took(fut: TaskFuture) -> float:
    begin, end = ran(fut)
    return end - begin


async def _calibrate(cfg: CampaignConfig, platform: Platform, prepared: stages.Prepared,
                     run_dir: Path) -> StageModel:
    ps = calibration_ps(cfg)
    short = cfg.model_copy(update={"md": cfg.md.model_copy(update={"segment_ps": ps})})
    lanes = max(1, min(cfg.simulations, platform.total_cores // cfg.md.cores))
    gpus = platform.total_gpus
    data = run_dir / "data"
    async with tandem.open_session(platform, run_dir=run_dir) as s:
        await stages.warm_workers(s, platform.total_cores, stages.warm_up, prepared, cfg.md,
                                  cfg.training, str(data / "warm-up"))
        segs = [submit_segment(s, short, prepared, data, j, 0, None,
                               name=f"calibration-segment.{j}") for j in range(lanes)]
        results = list(await tandem.gather(*segs))
        per_file = max(1, results[0].frames)
        n1 = round_frames(cfg, 0)
        n2 = round_frames(cfg, min(1, cfg.iterations - 1)) if cfg.iterations > 1 else 2 * n1
        if n2 <= n1:
            n2 = 2 * n1

        def files(frames: int) -> list[SegmentResult]:
            many: list[SegmentResult] = results * math.ceil(frames / per_file / len(results))
            return many[:math.ceil(frames / per_file)]

        ml = data / "ml"
        res: dict[str, Any] = {"cores": cfg.aggregation.cores,
                               "gpus": cfg.aggregation.gpu_count(gpus)}
        agg1 = s.submit(stages.aggregate, files(n1), str(ml / "a1.h5"),
                        name="calibration-aggregate.1", kind="aggregation", **res)
        agg2 = s.submit(stages.aggregate, files(n2), str(ml / "a2.h5"),
                        name="calibration-aggregate.2", kind="aggregation", after=[agg1], **res)
        tres: dict[str, Any] = {"cores": cfg.training.cores, "gpus": cfg.training.gpu_count(gpus)}
        t1 = s.submit(stages.train, agg1, str(ml / "m1.pt"), None, 1, cfg.training, cfg.seed,
                      name="calibration-train.1", kind="training", after=[agg2], **tres)
        te = s.submit(stages.train, agg1, str(ml / "me.pt"), t1, CALIBRATION_EPOCHS,
                      cfg.training, cfg.seed, name="calibration-train.2", kind="training",
                      **tres)
        ares: dict[str, Any] = {"cores": cfg.agent.cores, "gpus": cfg.agent.gpu_count(gpus)}
        i1 = s.submit(stages.agent, te, agg1, str(ml / "i1"), cfg.outliers, cfg.candidates,
                      cfg.agent, name="calibration-agent.1", kind="agent", **ares)
        i2 = s.submit(stages.agent, te, agg2, str(ml / "i2"), cfg.outliers, cfg.candidates,
                      cfg.agent, name="calibration-agent.2", kind="agent", after=[i1], **ares)
        await tandem.gather(agg1, agg2, t1, te, i1, i2)
    took = [_took(f) for f in segs]
    stepping = [ps * 86.4 / r.ns_per_day for r in results if r.ns_per_day > 0]
    per_ps = statistics.median(stepping) / ps if stepping else statistics.median(took) / ps
    setup = max(0.0, statistics.median(took) - per_ps * ps)
    frames1 = len(files(n1)) * per_file
    frames2 = len(files(n2)) * per_file
    a_fixed, a_slope = _line(frames1, _took(agg1), frames2, _took(agg2))
    t_fixed, per_epoch = _line(1, _took(t1), CALIBRATION_EPOCHS, _took(te))
    i_fixed, i_slope = _line(frames1, _took(i1), frames2, _took(i2))
    gaps = [max(0.0, ran(b)[0] - ran(a)[1]) for a, b in ((agg1, agg2), (agg2, t1), (t1, te),
                                                         (te, i1), (i1, i2))]
    spread = statistics.stdev(took) / statistics.mean(took) if len(took) > 1 else 0.0
    return StageModel(segment_setup=setup, segment_per_ps=per_ps, aggregate_fixed=a_fixed,
                      aggregate_per_frame=a_slope, train_fixed=t_fixed,
                      train_per_frame_epoch=per_epoch / frames1, agent_fixed=i_fixed,
                      agent_per_frame=i_slope, overhead=statistics.median(gaps),
                      segment_spread=spread)


def calibrate(cfg: CampaignConfig, platform: Platform, prepared: stages.Prepared,
              run_dir: str | Path) -> StageModel:
    """Measure the :class:`StageModel` for real on ``platform`` (a few seconds; its trace and
    files go to ``run_dir``)."""
    return asyncio.run(_calibrate(cfg, platform, prepared, Path(run_dir).resolve()))
