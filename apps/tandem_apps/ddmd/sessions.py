"""The stage sets and sessions a DeepDriveMD campaign runs with, per ``data`` mode.

Contract: :class:`StageFunctions` names the functions a campaign submits; :data:`REAL` hands
over files, :data:`MEMORY` values by reference (:mod:`tandem_apps.ddmd.stages`), :data:`STREAM`
frames through tandem streams while segments run (:mod:`tandem_apps.ddmd.streamed`). An
:data:`Opener` makes a campaign's session: :func:`open_here` (with tandem's journal) or
:func:`open_in_memory` (without: the journal would copy every kept result to disk). Imports
tandem and this package's stages, streamed and types; :mod:`tandem_apps.ddmd.campaign`
re-exports all.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tandem
from tandem import Platform
from tandem_apps.ddmd import stages, streamed
from tandem_apps.ddmd.types import (
    AgentResult,
    SegmentFrames,
    SegmentResult,
    TrainResult,
    TrainState,
)

Opener = Callable[[Platform, Path], AbstractAsyncContextManager[tandem.Session]]
"""Makes a campaign's session: ``(platform, run_dir) -> async context manager``."""


def open_here(platform: Platform, run_dir: Path) -> AbstractAsyncContextManager[tandem.Session]:
    """A session of this machine's processes (the campaign's default)."""
    return tandem.open_session(platform, run_dir=run_dir)


def open_in_memory(platform: Platform, run_dir: Path
                   ) -> AbstractAsyncContextManager[tandem.Session]:
    """A session of this machine's processes without tandem's journal (the default of
    ``data: memory``): a journal keeps a copy of every result kept by reference in
    ``<run>/results/`` on disk, which is what the in-memory mode avoids; the app never
    resumes a campaign from its journal."""
    return tandem.open_session(platform, run_dir=run_dir, journal=False)


def journal_bytes(run_dir: Path) -> int:
    """The size of tandem's journal in ``run_dir`` at the end (``journal.sqlite`` and the
    copies of kept results in ``results/``)."""
    files = [run_dir / "journal.sqlite", *(run_dir / "results").glob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())


@dataclass(frozen=True, slots=True)
class StageFunctions:
    """The functions a campaign submits for its stages (signatures as in :mod:`.stages`; the
    in-memory set returns the values that carry the data)."""

    simulate: Callable[..., SegmentResult | SegmentFrames]
    aggregate: Callable[..., Any]
    train: Callable[..., TrainResult | TrainState]
    agent: Callable[..., AgentResult]
    warm_up: Callable[..., str]


REAL = StageFunctions(simulate=stages.simulate, aggregate=stages.aggregate, train=stages.train,
                      agent=stages.agent, warm_up=stages.warm_up)
"""OpenMM segments, HDF5 aggregation, CVAE training and the LOF agent."""

MEMORY = StageFunctions(simulate=stages.simulate_memory, aggregate=stages.aggregate_memory,
                        train=stages.train_memory, agent=stages.agent_memory,
                        warm_up=stages.warm_up)
"""The same stages handing each other values by reference (``data: memory``)."""

STREAM = StageFunctions(simulate=streamed.simulate_stream, aggregate=streamed.aggregate_stream,
                        train=stages.train_memory, agent=stages.agent_memory,
                        warm_up=stages.warm_up)
"""As :data:`MEMORY`, with segments streaming their frames to their round's aggregation
while they run (``data: stream``: :mod:`tandem_apps.ddmd.streamed`)."""
