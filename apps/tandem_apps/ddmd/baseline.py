"""Plain molecular dynamics with the same machine and time: the baseline for steering.

Contract: :func:`run_baseline` runs ``simulations`` lineages of back-to-back segments, each
continuing its own trajectory (no training, no outliers, no restarts), on the same platform as
the campaigns, for a wall-time ``budget``: a lineage submits its next segment while the budget
is not spent; every core the campaigns gave to ML goes to extra lineages here (``cores`` of the
platform / ``md.cores`` lineages in all), so both sides get the same compute. Returns a
:class:`~tandem_apps.ddmd.campaign.CampaignRun` with mode ``"plain-md"``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import tandem
from tandem import Platform
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.campaign import CampaignRun, Segment, ran, submit_segment
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.types import SegmentResult


async def run_baseline(cfg: CampaignConfig, run_dir: str | Path, platform: Platform,
                       prepared: stages.Prepared, budget: float) -> CampaignRun:
    """Plain MD for ``budget`` seconds of wall time on ``platform``."""
    rd = Path(run_dir).resolve()
    data = rd / "data"
    lineages = max(cfg.simulations, platform.total_cores // cfg.md.cores)
    segments: list[Segment] = []
    durations: list[float] = []
    async with tandem.open_session(platform, run_dir=rd) as session:
        await stages.warm_workers(session, platform.total_cores)
        t0 = time.monotonic()

        async def lineage(j: int) -> None:
            previous: SegmentResult | None = None
            k = 0
            while time.monotonic() - t0 < budget:
                start = stages.last_frame(previous) if previous is not None else None
                fut = submit_segment(session, cfg, prepared, data, j, k, start,
                                     name=f"P{k}.{j}")
                previous = await fut
                begin, end = ran(fut)
                durations.append(end - begin)
                segments.append(Segment(previous, begin - t0, end - t0, cfg.md.cores, None))
                k += 1

        async with asyncio.TaskGroup() as group:
            for j in range(lineages):
                group.create_task(lineage(j))
    return CampaignRun(
        mode="plain-md", run_dir=rd, makespan=max((s.ended for s in segments), default=0.0),
        segments=tuple(sorted(segments, key=lambda s: (s.result.lineage, s.result.segment))),
        rounds=(), durations={"simulation": tuple(durations)})
