"""The active-learning campaign and its non-adaptive baseline, on tandem.

Contract: the steering code — :class:`ActiveLearner` (a tandem agent) and :func:`sweep`
(plain async code) — and the functions that run one of them on a real session
(:func:`run_campaign`) or on virtual time with a modelled objective
(:func:`simulate_campaign`). The same agent class and the same sweep coroutine run in both.

- **Active learning.** Each free core gets a simulation at once (``on_free``): from a Latin
  hypercube until a surrogate exists, then the point of highest expected improvement (a batch
  as large as the free cores, the runs still in flight counted as "believed" results). Each
  result retrains the surrogate as its own task (kind ``"training"``, ahead of simulations in
  the queue; one at a time, the latest data when it starts), while the other simulations go
  on. It stops at the target (cancelling the simulations still running: a steering action in
  the agent's name) or when the budget is spent.
- **Sweep.** The same budget of simulations, a Latin hypercube chosen up front, all submitted
  at once (the scheduler runs as many as there are cores); it stops at the target too.

Time-to-target is from the campaign's start (both start with warm workers, which imported
numpy, scipy and scikit-learn) to the end of the first simulation that reached the target.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tandem
from tandem import Duration, Platform, TaskState
from tandem.core.record import TaskRecord
from tandem.sim import open_simulated_session, run_virtual
from tandem_apps.active_learning import surrogate
from tandem_apps.active_learning.objective import BOUNDS, KELVIN, SPREADER, peak_temperature

SIMULATION, TRAINING = "simulation", "training"
AL, SWEEP = "active_learning", "sweep"


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignConfig:
    """One campaign: the objective's grid, the goal and the budget."""

    target: float = 76.0
    """Stop when a simulation's peak temperature is at or below this (°C)."""
    budget: int = 48
    """Simulations per method, at most."""
    grid: int = 160
    """Cells per side of the heat solve (about 0.4 s per evaluation at 160)."""
    initial: int = 4
    """Latin-hypercube points evaluated before the first surrogate is trained."""
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignResult:
    """What one method achieved. Times are seconds from the campaign's start."""

    method: str
    evaluations: tuple[tuple[float, tuple[float, ...], float], ...]
    """(end time, parameters, peak temperature) of each finished simulation, in end order."""
    time_to_target: float | None
    elapsed: float
    """Start to the end of the last task."""
    trainings: int = 0
    cancelled: int = 0
    """Simulations cancelled when the target was reached."""
    durations: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Running time of each task that finished, per kind (what a prediction is fitted to)."""

    @property
    def best(self) -> float:
        return min((v for _, _, v in self.evaluations), default=math.inf)

    @property
    def best_point(self) -> tuple[float, ...]:
        return min(self.evaluations, key=lambda e: e[2])[1] if self.evaluations else ()

    def best_so_far(self) -> list[tuple[float, float]]:
        """(time, best value so far) after each evaluation."""
        out, best = [], math.inf
        for t, _, v in self.evaluations:
            best = min(best, v)
            out.append((t, best))
        return out

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "time_to_target_s": _round(self.time_to_target),
                "evaluations": len(self.evaluations), "best_C": _round(self.best),
                "best_at": [round(v, 3) for v in self.best_point],
                "elapsed_s": _round(self.elapsed), "trainings": self.trainings,
                "cancelled": self.cancelled}


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 3)


@dataclass(slots=True)
class _Log:
    """Evaluations as they arrive, against the session clock."""

    t0: float
    target: float
    evaluations: list[tuple[float, tuple[float, ...], float]] = field(default_factory=list)
    reached: float | None = None

    def add(self, fut: tandem.TaskFuture, x: tuple[float, ...]) -> float:
        value = float(fut.result())
        ended = fut.record.ended
        assert ended is not None      # a result is only there once the task ended
        t = ended - self.t0
        self.evaluations.append((t, x, value))
        if value <= self.target and self.reached is None:
            self.reached = t
        return value


class ActiveLearner(tandem.Agent):
    """The active-learning campaign as an agent (see the module docstring)."""

    name = "active-learner"

    def __init__(self, config: CampaignConfig,
                 objective: Callable[..., float] = peak_temperature) -> None:
        self.config = config
        self.objective = objective
        self.dims = len(BOUNDS)
        self.design = surrogate.initial_design(config.initial + 8, self.dims, config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.x: list[tuple[float, ...]] = []
        self.y: list[float] = []
        self.pending: dict[int, tuple[float, ...]] = {}
        self.model: Any = None
        self.training = False
        self.stale = False
        self.submitted = 0
        self.trainings = 0
        self.cancelled = 0
        self.log: _Log | None = None

    @tandem.on_start
    async def start(self, s: tandem.AgentSession) -> None:
        self.log = _Log(t0=s.time(), target=self.config.target)

    @tandem.on_free(cores=1)
    async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
        count = min(free.cores, self.config.budget - self.submitted)
        if count <= 0:
            return
        if self.model is None:
            points = [self.design.pop(0) for _ in range(min(count, len(self.design)))]
        else:
            points = surrogate.propose(self.model, self.x, self.y,
                                       list(self.pending.values()), count, self.rng)
        for x in points:
            fut = s.submit(self.objective, x, self.config.grid, kind=SIMULATION,
                           name=f"sim{self.submitted}")
            self.pending[fut.task_id] = x
            self.submitted += 1

    @tandem.on_result(kind=SIMULATION)
    async def learn(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        x = self.pending.pop(fut.task_id)
        if fut.exception() is not None:
            return          # cancelled at the target, or a failed solve: no data
        assert self.log is not None
        value = self.log.add(fut, x)
        self.x.append(x)
        self.y.append(value)
        if value <= self.config.target:
            cancelled = s.cancel_all(reason=f"target reached: {value:.2f} °C at "
                                            f"{x[0]:.3f}, {x[1]:.3f}")
            self.cancelled = sum(1 for f in cancelled if f.name.startswith("sim"))
            self.stop()
        elif len(self.x) >= self.config.initial:
            self.retrain(s)

    @tandem.on_result(kind=TRAINING)
    async def trained(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        self.training = False
        if fut.exception() is None:
            self.model = fut.result()
        if self.stale:
            self.retrain(s)

    def retrain(self, s: tandem.AgentSession) -> None:
        """Fit the surrogate to every result so far, as a task (one at a time)."""
        if self.submitted >= self.config.budget:
            return              # nothing left to propose
        if self.training:
            self.stale = True
            return
        self.training, self.stale = True, False
        self.trainings += 1
        start = self.model.kernel_ if self.model is not None else None
        s.submit(surrogate.train, list(self.x), list(self.y), kind=TRAINING, priority=10,
                 name=f"train{self.trainings}",
                 kwargs={"floor": SPREADER.sink - KELVIN, "seed": self.config.seed,
                         "start": start})

    def result(self, end: float) -> CampaignResult:
        assert self.log is not None
        return CampaignResult(method=AL, evaluations=tuple(self.log.evaluations),
                              time_to_target=self.log.reached, elapsed=end - self.log.t0,
                              trainings=self.trainings, cancelled=self.cancelled)


async def sweep(session: tandem.Session, config: CampaignConfig,
                objective: Callable[..., float] = peak_temperature) -> CampaignResult:
    """The non-adaptive baseline: a Latin hypercube of the whole budget, submitted at once."""
    loop = asyncio.get_running_loop()
    log = _Log(t0=loop.time(), target=config.target)
    points = surrogate.initial_design(config.budget, len(BOUNDS), config.seed + 1)
    futures = {session.submit(objective, x, config.grid, kind=SIMULATION, name=f"sim{i}"): x
               for i, x in enumerate(points)}
    cancelled = 0
    async for fut in tandem.as_completed(futures):
        if fut.exception() is not None:
            continue
        value = log.add(fut, futures[fut])
        if value <= config.target:
            rest = [f for f in futures if not f.done()]
            session.cancel(rest, f"target reached: {value:.2f} °C", by="sweep")
            cancelled = len(rest)
            break
    await session.wait_all()
    return CampaignResult(method=SWEEP, evaluations=tuple(log.evaluations),
                          time_to_target=log.reached, elapsed=loop.time() - log.t0,
                          cancelled=cancelled)


def warm(grid: int) -> float:
    """Imports and a tiny solve, so the campaign's clock does not count a worker's start-up."""
    import sklearn.gaussian_process  # noqa: F401

    return peak_temperature((0.5, 0.5), min(grid, 16))


async def _run_method(session: tandem.Session, method: str, config: CampaignConfig,
                      objective: Callable[..., float]) -> CampaignResult:
    loop = asyncio.get_running_loop()
    if method == AL:
        agent = ActiveLearner(config, objective)
        await tandem.run_agents(session, agent)
        await session.wait_all()
        return agent.result(loop.time())
    if method == SWEEP:
        return await sweep(session, config, objective)
    raise ValueError(f"unknown method {method!r} (methods: {AL}, {SWEEP})")


class _Durations(tandem.Instrument):
    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}

    def task_ended(self, record: TaskRecord) -> None:
        d = record.duration
        if record.state is TaskState.DONE and d is not None:
            self.seen.setdefault(record.kind, []).append(d)


async def run_campaign(method: str, config: CampaignConfig, platform: Platform,
                       run_dir: Path) -> CampaignResult:
    """One method on this machine (real processes); the tandem trace goes to ``run_dir``."""
    durations = _Durations()
    async with tandem.open_session(platform, run_dir=run_dir, instruments=[durations]) as s:
        await tandem.gather(*(s.submit(warm, config.grid, kind="warm-up")
                              for _ in range(platform.total_cores)))
        result = await _run_method(s, method, config, peak_temperature)
    return dataclasses.replace(result, durations={
        k: tuple(v) for k, v in durations.seen.items() if k in (SIMULATION, TRAINING)})


def simulate_campaign(method: str, config: CampaignConfig, platform: Platform, *,
                      seconds: Duration, training_seconds: Duration,
                      model_grid: int = 64, run_dir: Path | None = None) -> CampaignResult:
    """One method on virtual time: simulations last ``seconds`` and return the objective solved
    on a ``model_grid`` grid (a cheap model of the real one: within about a kelvin, slightly
    hotter); trainings last ``training_seconds`` and really fit the surrogate."""

    def model(x: tuple[float, ...], grid: int) -> float:
        return peak_temperature(x, model_grid)

    async def main() -> CampaignResult:
        async with open_simulated_session(
                platform, durations={SIMULATION: seconds, TRAINING: training_seconds},
                results={SIMULATION: model}, seed=config.seed, run_dir=run_dir) as s:
            return await _run_method(s, method, config, peak_temperature)

    return run_virtual(main())
