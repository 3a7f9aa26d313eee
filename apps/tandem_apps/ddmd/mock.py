"""Stand-in stages: the campaign's values without OpenMM or torch, sleeping or modelled.

Contract: :func:`segment`, :func:`aggregate`, :func:`train` and :func:`agent` take the real
stage functions' arguments (:mod:`.stages`) and return values of the same types at once, with
no files and no science: a segment's RMSD falls by 1 Å a segment (so no lineage is ever
stuck), the agent publishes one restart point per outlier. They serve twice:

- :func:`sleeping_stages` wraps them in :class:`Sleeping` tasks that sleep the ``mock``
  section's seconds first: the campaign driver run for real with sleeping stages
  (``--mock``);
- :data:`RESULTS` gives them to tandem's model backend as the results of the real stage
  functions, so the driver runs on virtual time with modelled durations
  (:mod:`.predict`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandem_apps.ddmd.campaign import StageFunctions
from tandem_apps.ddmd.config import Mock
from tandem_apps.ddmd.types import AgentResult, RestartPoint, SegmentResult, TrainResult


def _started_from(start: Any) -> str:
    """The segment's start as the real one labels it; ``start`` is a restart point, None, or
    in memory a (stand-in agent result or segment, index) pair."""
    if start is None:
        return "initial"
    if isinstance(start, tuple):
        value, i = start
        if isinstance(value, AgentResult):
            start = value.restarts[i]
        else:
            return f"{value.dcd}#{i}"
    return f"{start.dcd}#{start.frame}"


def segment(prepared: Any, md: Any, lineage: int, segment: int, start: Any,
            out_dir: str, seed: int, stream: str | None = None) -> SegmentResult:
    """A segment's value: 10 − segment Å at best, from ``start``'s frame (or the start);
    ``stream`` (``data: stream``) is not written to: nothing reads it."""
    frames = max(1, round(md.segment_ps / md.report_interval_ps))
    return SegmentResult(
        lineage=lineage, segment=segment, dcd=f"{out_dir}/segment.dcd",
        h5=f"{out_dir}/segment.h5", topology=prepared.initial_pdb, frames=frames,
        min_rmsd=10.0 - segment, final_rmsd=10.5 - segment, max_fnc=0.05 * segment,
        ns_per_day=0.0, platform="mock", threads=1,
        started_from=_started_from(start))


def aggregate(segments: Any, out: str, *streamed: Any) -> str:
    """``out``; ``segments`` is the previous round's aggregation with ``data: stream``,
    whose stream (``streamed``) is not read."""
    return out


def train(data_h5: str, checkpoint: str, previous: TrainResult | None, epochs: int,
          training: Any, seed: int) -> TrainResult:
    return TrainResult(checkpoint=checkpoint, epochs=epochs, losses=(0.0,) * epochs, frames=0,
                       device="mock")


def agent(model: TrainResult, data_h5: str, out_dir: str, outliers: int, candidates: int,
          cfg: Any) -> AgentResult:
    points = tuple(RestartPoint(dcd=f"{out_dir}/outlier{i}.dcd", topology=model.checkpoint,
                                frame=i, lineage=i, segment=0, rmsd=5.0, lof=1.0)
                   for i in range(outliers))
    return AgentResult(restarts_json=f"{out_dir}/restarts.json",
                       embeddings=f"{out_dir}/embeddings.npz", restarts=points, frames=0)


def warm_up(*args: Any) -> str:
    return "mock"


RESULTS: dict[str, Callable[..., Any]] = {
    "setup": warm_up, "simulation": segment, "aggregation": aggregate, "training": train,
    "agent": agent}
"""Results of the real stage functions on tandem's model backend, by task kind."""


@dataclass(frozen=True, slots=True)
class Sleeping:
    """A task function that sleeps ``seconds``, then returns ``fn``'s value; a segment
    (``per_lineage``) sleeps ``per_lineage`` seconds more for each lineage index."""

    fn: Callable[..., Any]
    seconds: float
    per_lineage: float = 0.0

    def __call__(self, *args: Any) -> Any:
        time.sleep(self.seconds + (self.per_lineage * args[2] if self.per_lineage else 0.0))
        return self.fn(*args)


def sleeping_stages(mock: Mock, *, per_lineage: float = 0.0) -> StageFunctions:
    """The stage set of ``--mock``: each stage sleeps its ``mock`` seconds (a segment of
    lineage j ``j * per_lineage`` more)."""
    return StageFunctions(simulate=Sleeping(segment, mock.simulation, per_lineage),
                          aggregate=Sleeping(aggregate, mock.aggregation),
                          train=Sleeping(train, mock.training),
                          agent=Sleeping(agent, mock.agent), warm_up=warm_up)
