"""One sampling campaign: several Monte Carlo chains at once, energies from PySCF as tandem
tasks, with or without a surrogate answering for them.

Contract: :func:`run_campaign` opens a tandem session on ``platform`` in ``run_dir`` (or uses
``opener``'s), warms one worker per core (PySCF imported, off the clock), computes the reference
energy at the start geometry, then runs ``cfg.chains`` chains concurrently, each awaiting its
energies one at a time. ``mode="real"``: every energy is the real function, a one-core task
(kind ``hf``). ``mode="surrogate"``: a :class:`tandem.surrogate.Surrogate` (a Gaussian process
on :func:`~tandem_apps.abinitio.water.descriptor`, error bound ``cfg.bound`` millihartree on
the mean absolute error of its answers) answers when it is trusted, else runs the same task;
audits run the real function too at low priority and retraining runs as tasks while the chains
go on. It returns a :class:`CampaignResult`: the chains, the wall time from the first chain
step to the last and to the session's end (audits still queued when the chains end run
before it), the real-function tasks, and the surrogate's summary (taken at the end, so every
audit is in it).
Imports: tandem, tandem.spec.checks, tandem.surrogate, tandem_apps.abinitio.chain,
tandem_apps.abinitio.water.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

import tandem
from tandem.spec.checks import is_int, is_number
from tandem.surrogate import GPModel, Retraining, Surrogate, SurrogateSummary
from tandem_apps.abinitio import water
from tandem_apps.abinitio.chain import Chain, Moves, run_chain

Mode = Literal["real", "surrogate"]
MODES: tuple[Mode, ...] = ("real", "surrogate")
Opener = Callable[[tandem.Platform, Path], AbstractAsyncContextManager[tandem.Session]]


@dataclass(frozen=True, slots=True)
class Config:
    """What a campaign samples and how the surrogate is held."""

    chains: int = 4
    steps: int = 150
    temperature: float = 1000.0     # kelvin: a hot molecule, so the chains move far
    basis: str = water.BASIS
    bound: float = 0.3              # millihartree, mean absolute error of surrogate answers
    audit_fraction: float = 0.1
    min_pairs: int = 20
    retrain_every: int = 20
    seed: int = 1
    moves: Moves = field(default_factory=Moves)

    def __post_init__(self) -> None:
        for name in ("chains", "steps", "min_pairs", "retrain_every"):
            v = getattr(self, name)
            if not is_int(v) or v < 1:
                raise ValueError(f"abinitio: {name} must be an integer >= 1, got {v!r}")
        for name in ("temperature", "bound"):
            v = getattr(self, name)
            if not is_number(v) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"abinitio: {name} must be a number > 0, got {v!r}")
        if not 0 < self.audit_fraction <= 1:
            raise ValueError(f"abinitio: audit_fraction must be in (0, 1], got "
                             f"{self.audit_fraction!r}")


@dataclass(frozen=True, slots=True)
class CampaignResult:
    """One campaign as it ran."""

    mode: Mode
    wall_s: float
    """From the chains' first step to their last."""
    closed_s: float
    """From the chains' first step to the session's end (audits left over included)."""
    chains: tuple[Chain, ...]
    real_tasks: int
    """Tasks that ran the real function for a chain (audits not included)."""
    audit_tasks: int
    reference: float
    """The reference energy (hartree) the chains' energies are relative to."""
    summary: SurrogateSummary | None = None

    @property
    def samples(self) -> int:
        return sum(len(c.samples) for c in self.chains)


def open_here(platform: tandem.Platform, run_dir: Path) -> AbstractAsyncContextManager[
        tandem.Session]:
    """A session on this machine's processes."""
    return tandem.open_session(platform, run_dir=run_dir)


def starts(cfg: Config) -> list[tuple[float, float, float]]:
    """Each chain's start: the equilibrium geometry, bonds spread by up to ±0.02 Å."""
    r1, r2, theta = water.EQUILIBRIUM
    return [(r1 + 0.01 * (i % 3 - 1), r2 - 0.01 * (i % 3 - 1), theta)
            for i in range(cfg.chains)]


async def run_campaign(cfg: Config, mode: Mode, run_dir: str | Path,
                       platform: tandem.Platform, *, opener: Opener = open_here
                       ) -> CampaignResult:
    """Run one campaign (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"abinitio: mode must be one of {', '.join(MODES)}, got {mode!r}")
    rd = Path(run_dir).resolve()
    async with opener(platform, rd) as session:
        await tandem.gather(*(session.submit(water.warm_up, cfg.basis, name="warm-up",
                                             kind="setup", cores=1)
                              for _ in range(platform.total_cores)))
        reference = await session.submit(water.hartree_fock, *water.EQUILIBRIUM, cfg.basis,
                                         name="reference", kind="setup", cores=1)
        fn = functools.partial(water.energy, basis=cfg.basis, reference=reference)
        sur: Surrogate | None = None
        real_calls = 0

        async def real(x: np.ndarray) -> float:
            nonlocal real_calls
            real_calls += 1
            return float(await session.submit(fn, x, name="hf", kind="hf", cores=1))

        if mode == "surrogate":
            sur = Surrogate(session, fn, bound=cfg.bound, model=GPModel(seed=cfg.seed),
                            retraining=Retraining(min_pairs=cfg.min_pairs,
                                                  every=cfg.retrain_every, priority=5),
                            audit_fraction=cfg.audit_fraction, name="hf", dim=3,
                            seed=cfg.seed, cores=1)
            energy: Any = sur
        else:
            energy = real
        clock = time.monotonic
        t0 = clock()
        chains = await asyncio.gather(*(
            run_chain(i, energy, start, cfg.steps, cfg.temperature,
                      cfg.seed * 10_007 + i, cfg.moves)
            for i, start in enumerate(starts(cfg))))
        wall = clock() - t0
    closed = clock() - t0           # audits still queued at the chains' end ran before this
    if sur is not None:
        summary = sur.summary()
        return CampaignResult(mode=mode, wall_s=wall, closed_s=closed, chains=tuple(chains),
                              real_tasks=summary.real, audit_tasks=summary.audits,
                              reference=reference, summary=summary)
    return CampaignResult(mode=mode, wall_s=wall, closed_s=closed, chains=tuple(chains),
                          real_tasks=real_calls, audit_tasks=0, reference=reference)
