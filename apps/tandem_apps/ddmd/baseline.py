"""Plain molecular dynamics with the same machine and time: the baseline for steering.

Contract: :func:`run_baseline` runs lineages of back-to-back segments, each continuing its own
trajectory (no training, no outliers, no restarts), on the same platform as the campaigns, for
a wall-time ``budget``; every core the campaigns gave to ML goes to extra lineages here
(``cores`` of the platform / ``md.cores`` lineages in all), so both sides get the same compute.
It **stops at the budget**: the lineages take turns at the segment slots (``cores`` /
``md.cores``, first come first served), and a lineage decides its next segment when it has a
slot, so the segment starts at once: a full segment while one is expected to end within the
budget (the median of the full segments so far, else ``estimate``), then one segment shortened
to the time left (whole report intervals; none if not even one fits), then it stops. A
frame written after the budget does not count: the run's ``horizon`` is the budget
(:func:`tandem_apps.ddmd.science.frames` drops later frames). Returns a
:class:`~tandem_apps.ddmd.campaign.CampaignRun` with mode ``"plain-md"``. ``opener`` and
``functions`` are the campaign's (so it runs on virtual time too).
"""

from __future__ import annotations

import asyncio
import math
import statistics
from pathlib import Path

from tandem import Platform
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.campaign import (
    REAL,
    CampaignRun,
    Opener,
    Segment,
    StageFunctions,
    features,
    open_here,
    ran,
    submit_segment,
)
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.types import SegmentResult


def segment_ps_within(cfg: CampaignConfig, left: float, full: float) -> float | None:
    """The MD (ps) of a lineage's next segment with ``left`` seconds of budget, a full segment
    taking ``full`` seconds: the configured length if it fits, else the whole report intervals
    that fit in proportion, else ``None`` (stop)."""
    if left <= 0:
        return None
    if full <= left:
        return cfg.md.segment_ps
    step = cfg.md.report_interval_ps
    n = math.floor(cfg.md.segment_ps * left / full / step + 1e-9)
    return round(n * step, 9) if n >= 1 else None


async def run_baseline(cfg: CampaignConfig, run_dir: str | Path, platform: Platform,
                       prepared: stages.Prepared, budget: float, *,
                       estimate: float | None = None, opener: Opener = open_here,
                       functions: StageFunctions = REAL) -> CampaignRun:
    """Plain MD for ``budget`` seconds of wall time on ``platform`` (see the module
    docstring); ``estimate``: seconds of one full segment before any has run."""
    if not budget > 0:
        raise ValueError(f"run_baseline: budget must be > 0 seconds, got {budget!r}")
    rd = Path(run_dir).resolve()
    data = rd / "data"
    lineages = max(cfg.simulations, platform.total_cores // cfg.md.cores)
    segments: list[Segment] = []
    durations: list[float] = []       # full segments only
    first = estimate if estimate is not None else cfg.mock.simulation
    slots = asyncio.Semaphore(max(1, platform.total_cores // cfg.md.cores))
    async with opener(platform, rd) as session:
        clock = asyncio.get_running_loop().time
        await stages.warm_workers(session, platform.total_cores, functions.warm_up,
                                  prepared, cfg.md, cfg.training, str(data / "warm-up"))
        t0 = clock()

        async def lineage(j: int) -> None:
            previous: SegmentResult | None = None
            k = 0
            while True:
                async with slots:
                    full = statistics.median(durations) if durations else first
                    ps = segment_ps_within(cfg, budget - (clock() - t0), full)
                    if ps is None:
                        return
                    c = cfg if ps == cfg.md.segment_ps else cfg.model_copy(
                        update={"md": cfg.md.model_copy(update={"segment_ps": ps})})
                    start = stages.last_frame(previous) if previous is not None else None
                    fut = submit_segment(
                        session, c, prepared, data, j, k, start, name=f"P{k}.{j}",
                        functions=functions, estimate=full * ps / cfg.md.segment_ps,
                        features=features(c, "plain-md", "simulation"))
                    previous = await fut
                begin, end = ran(fut)
                if ps == cfg.md.segment_ps:
                    durations.append(end - begin)
                segments.append(Segment(previous, begin - t0, end - t0, cfg.md.cores, None))
                k += 1
                if ps != cfg.md.segment_ps:
                    return

        async with asyncio.TaskGroup() as group:
            for j in range(lineages):
                group.create_task(lineage(j))
    return CampaignRun(
        mode="plain-md", run_dir=rd, makespan=max((s.ended for s in segments), default=0.0),
        segments=tuple(sorted(segments, key=lambda s: (s.result.lineage, s.result.segment))),
        rounds=(), durations={"simulation": tuple(durations)}, horizon=budget)
