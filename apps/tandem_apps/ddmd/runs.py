"""What a finished DeepDriveMD campaign reports: its segments, its ML rounds, its data paths.

Contract: frozen values only (:class:`Segment`, :class:`Round`, :class:`CampaignRun`), made by
:func:`tandem_apps.ddmd.campaign.run_campaign` (which re-exports them). Imports the standard
library and this package's fsio and types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem_apps.ddmd.fsio import FileIO
from tandem_apps.ddmd.types import AgentResult, SegmentResult, TrainResult


@dataclass(frozen=True, slots=True)
class Segment:
    """One simulation segment as it ran: result plus the wall times tandem recorded."""

    result: SegmentResult
    started: float   # seconds since the campaign began
    ended: float
    cores: int
    restart_round: int | None  # which agent round's list it started from (None: own frame)
    rmsd: Any = None  # in memory: the per-frame RMSD and fnc (no segment.h5 to read them from)
    fnc: Any = None


@dataclass(frozen=True, slots=True)
class Round:
    """One ML round: aggregation, training and agent, with their durations."""

    index: int
    train: TrainResult
    agent: AgentResult
    published: float  # seconds since the campaign began


@dataclass(frozen=True, slots=True)
class CampaignRun:
    """A finished campaign."""

    mode: str
    run_dir: Path
    makespan: float
    segments: tuple[Segment, ...]
    rounds: tuple[Round, ...]
    durations: dict[str, tuple[float, ...]]  # stage -> running times of its tasks
    killed: tuple[tuple[int, int, str, float], ...] = ()  # (lineage, segment, why, when)
    horizon: float | None = None  # frames after this time (s) do not count (a time budget)
    data: str = "files"
    io: dict[str, FileIO] = field(default_factory=dict)  # stage -> its tasks' file bytes
    kept: dict[str, int] = field(default_factory=dict)   # stage -> bytes kept by reference
    journal: int = 0  # bytes of tandem's journal files at the end (journal_bytes)
