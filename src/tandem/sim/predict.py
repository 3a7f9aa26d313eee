"""Predict a workflow's makespan: the simulator, once per seed, and the statistics over seeds.

Contract: pure computation except :func:`simulate_to_run_dir`, which writes a run directory's
trace through :class:`~tandem.trace.jsonl.JsonlTrace`.

Seed ``s`` runs ``workflow.expand(mode=mode, seed=s)``: durations are drawn from each set's
:class:`~tandem.spec.workflow.Duration` with ``random.Random(s)``, so a seed list gives the same
predictions every time. When no set's duration is random (every one fixed), one run stands for
all seeds. ``p50`` and ``p95`` interpolate linearly between order statistics (numpy's default).

A workflow with a surrogate-backed set (a :class:`~tandem.spec.workflow.SurrogatePlan`) runs
on virtual time instead (:mod:`tandem.sim.surrogates`), once per seed (the surrogate's draws
are seeded), and its prediction says what each surrogate did and what the same workflow takes
without them (every call real: ``without_surrogates``, the static simulation's median).

The policy's mode is set to the prediction's mode (``mode``, else the workflow's): the graph of
the expansion and the core's barriers always agree. The default policy is the runtime's
(critical-path order, first fit, backfill).
Imports: tandem.core.policy, tandem.core.record, tandem.errors, tandem.model.stats,
tandem.sim.calibrate, tandem.sim.simulator, tandem.sim.surrogates, tandem.spec.platform,
tandem.spec.workflow, tandem.surrogate.modelled, tandem.trace.instrument, tandem.trace.jsonl.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.core.policy import Mode, Policy
from tandem.core.record import TaskRecord
from tandem.errors import SpecError
from tandem.model.stats import quantile
from tandem.sim.calibrate import Calibration
from tandem.sim.simulator import SimResult, run
from tandem.sim.surrogates import has_surrogates, run_seed_modelled
from tandem.spec.platform import Platform
from tandem.spec.workflow import ModeName, Workflow
from tandem.surrogate.modelled import ModelledCounts
from tandem.trace.instrument import Instrument
from tandem.trace.jsonl import TRACE_FILE, JsonlTrace


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """Simulated makespans of one workflow over several seeds (seconds)."""

    workflow: str
    mode: ModeName
    seeds: tuple[int, ...]
    makespans: tuple[float, ...]
    """First task start to last task end (the paper's TTX), one per seed."""
    makespans_from_submit: tuple[float, ...]
    """Submission (time 0) to last task end, one per seed."""
    p50: float
    p95: float
    mean: float
    utilisation: dict[str, float]
    """Median over runs of each resource's utilisation (``"cores"``, ``"gpus"``)."""
    overhead: float
    records: tuple[TaskRecord, ...]
    """The first seed's task records."""
    surrogates: Mapping[str, ModelledCounts] = dataclasses.field(default_factory=dict)
    """What each surrogate-backed set's surrogate did (the first seed's run)."""
    without_surrogates: float | None = None
    """With surrogate-backed sets: the median makespan of the same workflow, every call real."""

    @property
    def makespan_from_submit(self) -> float:
        """Median over seeds of submission to last end."""
        return quantile(self.makespans_from_submit, 0.5)


def _random(workflow: Workflow) -> bool:
    for s in workflow.task_sets:
        d = s.duration
        if d is None:
            continue
        if d.distribution in ("normal", "lognormal") and d.sd:
            return True
        if d.distribution == "empirical" and len(set(d.samples)) > 1:
            return True
    return False


def _prepare(workflow: Workflow, mode: str | None, policy: Policy | None,
             calibration: Calibration | None) -> tuple[Workflow, ModeName, Policy]:
    wf = calibration.apply(workflow) if calibration is not None else workflow
    m = mode or wf.mode
    if m not in ("async", "barrier"):
        raise SpecError(f"predict: mode must be 'async' or 'barrier', got {mode!r}")
    name: ModeName = "async" if m == "async" else "barrier"
    pol = dataclasses.replace(policy or Policy(), mode=Mode(name))
    for s in wf.task_sets:
        if s.duration is None:
            raise SpecError(f"predict: task set {s.name!r} has no duration; give it one "
                            "(an estimate) or a calibration from a past run")
    return wf, name, pol


def run_seed(workflow: Workflow, seed: int, *, mode: ModeName, policy: Policy,
             platform: Platform | None = None, overhead: float = 0.0,
             instruments: Sequence[Instrument] = (), keep: bool = True) -> SimResult:
    """One simulated run of ``workflow`` expanded with ``seed`` (no calibration applied)."""
    if has_surrogates(workflow):
        return run_seed_modelled(workflow, seed, mode=mode, policy=policy, platform=platform,
                                 instruments=instruments, keep=keep)[0]
    tasks = workflow.expand(mode=mode, seed=seed)
    specs = [t.spec for t in tasks]
    deps = [t.deps for t in tasks]
    durations = [t.duration or 0.0 for t in tasks]
    del tasks
    return run(platform or workflow.platform, specs, deps, durations, policy=policy,
               overhead=overhead, instruments=instruments, keep=keep, pools=workflow.pools)


def predict(
    workflow: Workflow,
    *,
    mode: str | None = None,
    platform: Platform | None = None,
    seeds: int | Sequence[int] = 20,
    overhead: float | None = None,
    calibration: Calibration | None = None,
    policy: Policy | None = None,
    keep_records: bool = True,
) -> Prediction:
    """Simulate ``workflow`` once per seed (``seeds=n`` means seeds ``0 .. n-1``).

    ``platform`` replaces the workflow's; ``overhead`` is a launch delay in seconds (default:
    the calibration's, else 0); ``calibration`` replaces the sets' durations by fitted ones;
    ``keep_records=False`` drops the first run's records (millions of tasks)."""
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    if not seed_list:
        raise SpecError("predict: needs at least one seed")
    wf, name, pol = _prepare(workflow, mode, policy, calibration)
    delay = overhead if overhead is not None else (
        calibration.overhead if calibration is not None else 0.0)
    plat = platform or wf.platform
    results: list[SimResult] = []
    modelled = has_surrogates(wf)
    random_durations = _random(wf) or modelled
    counts: dict[str, ModelledCounts] = {}
    without = None
    for i, seed in enumerate(seed_list):
        if i and not random_durations:
            results.append(results[0])
            continue
        if modelled:
            got, seen = run_seed_modelled(wf, seed, mode=name, policy=pol, platform=plat,
                                          keep=keep_records and i == 0)
            counts = counts or seen
            results.append(got)
            continue
        results.append(run_seed(wf, seed, mode=name, policy=pol, platform=plat, overhead=delay,
                                keep=keep_records and i == 0))
    if modelled:
        plain = dataclasses.replace(wf, task_sets=tuple(
            dataclasses.replace(s, surrogate=None) for s in wf.task_sets))
        without = predict(plain, mode=name, platform=plat, seeds=seed_list, overhead=delay,
                          policy=pol, keep_records=False).p50
    spans = tuple(r.makespan for r in results)
    utils = [r.utilisation(plat) for r in results]
    return Prediction(
        workflow=workflow.name, mode=name, seeds=seed_list, makespans=spans,
        makespans_from_submit=tuple(r.makespan_from_submit for r in results),
        p50=quantile(spans, 0.5), p95=quantile(spans, 0.95), mean=statistics.fmean(spans),
        utilisation={k: statistics.median(u[k] for u in utils) for k in ("cores", "gpus")},
        overhead=delay, records=results[0].records, surrogates=counts,
        without_surrogates=without,
    )


def simulate_to_run_dir(
    workflow: Workflow,
    run_dir: str | os.PathLike[str],
    *,
    mode: str | None = None,
    seed: int = 0,
    platform: Platform | None = None,
    overhead: float | None = None,
    calibration: Calibration | None = None,
    policy: Policy | None = None,
    instruments: Sequence[Instrument] = (),
) -> SimResult:
    """Simulate one seed and write ``run_dir/trace.jsonl`` in the runtime's schema (so
    ``tandem report`` and :func:`~tandem.sim.calibrate.calibrate` read it like a real run)."""
    wf, name, pol = _prepare(workflow, mode, policy, calibration)
    delay = overhead if overhead is not None else (
        calibration.overhead if calibration is not None else 0.0)
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    if (rd / TRACE_FILE).exists():
        raise SpecError(f"simulate_to_run_dir: {rd} already holds a trace; give a new directory")
    trace = JsonlTrace(rd)
    try:
        return run_seed(wf, seed, mode=name, policy=pol, platform=platform, overhead=delay,
                        instruments=[trace, *instruments])
    finally:
        trace.close()
