"""The campaigns predicted before they run: the same chains on tandem's virtual time, with the
energy function as a cost model.

Contract: :func:`calibrate` runs a few real energies as tasks (one per core, :data:`ROUNDS`
times after warm-up, the first round not counted) and returns the median running time of
one. :func:`predict` runs the application's own chains
(:func:`~tandem_apps.abinitio.chain.run_chain`, same seeds, steps and starts) on virtual time
in a simulated session of ``platform``: ``real`` with every energy a task of the calibrated
seconds, ``surrogate`` with a :class:`tandem.surrogate.ModelledSurrogate` (the surrogate's
rules; ``hit_rate`` of the calls answered once a model serves, audits, retraining tasks of
``retrain`` seconds). The chains' energies there come from :func:`harmonic`, a harmonic
stand-in of water (HF-like force constants), so they accept and reject about as the real
chains do. It returns each mode's predicted wall time and real-function tasks.
Imports: tandem, tandem.sim, tandem.surrogate, tandem_apps.abinitio.campaign,
tandem_apps.abinitio.chain, tandem_apps.abinitio.water.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tandem
from tandem.sim import open_simulated_session, run_virtual
from tandem.surrogate import ModelledSurrogate, SurrogateCosts
from tandem_apps.abinitio import water
from tandem_apps.abinitio.campaign import MODES, Config, Mode, starts
from tandem_apps.abinitio.chain import run_chain

ROUNDS = 5
"""Rounds of the calibration, one real energy per core each; the first is not counted."""
K_BOND = 1950.0   # millihartree per Å², per O–H bond (about HF's)
K_ANGLE = 160.0   # millihartree per radian², the bend


def harmonic(x: Any) -> float:
    """A harmonic water: millihartree above the equilibrium of :data:`water.EQUILIBRIUM`."""
    r1, r2, theta = water.geometry(x)
    r0, _, t0 = water.EQUILIBRIUM
    return K_BOND / 2 * ((r1 - r0) ** 2 + (r2 - r0) ** 2) + K_ANGLE / 2 * (theta - t0) ** 2


@dataclass(frozen=True, slots=True)
class Prediction:
    mode: Mode
    wall_s: float
    real_tasks: int
    audit_tasks: int


async def _calibrate(cfg: Config, platform: tandem.Platform, run_dir: Path) -> float:
    async with tandem.open_session(platform, run_dir=run_dir) as s:
        cores = platform.total_cores
        await tandem.gather(*(s.submit(water.warm_up, cfg.basis, name="warm-up",
                                       kind="setup", cores=1) for _ in range(cores)))
        fn = functools.partial(water.energy, basis=cfg.basis)
        x = water.descriptor(*water.EQUILIBRIUM)
        seconds = []
        for round_ in range(ROUNDS):
            futs = [s.submit(fn, x, name="calibrate", kind="calibration", cores=1)
                    for _ in range(cores)]
            await tandem.gather(*futs)
            if round_ == 0:
                continue            # a worker's first energy in a session is slower
            for f in futs:
                r = f.record
                if r.started is not None and r.ended is not None:
                    seconds.append(r.ended - r.started)
    return statistics.median(seconds)


def calibrate(cfg: Config, platform: tandem.Platform, run_dir: Path) -> float:
    """The median running time (s) of one real energy on ``platform``."""
    return asyncio.run(_calibrate(cfg, platform, run_dir))


def predict(cfg: Config, platform: tandem.Platform, real_seconds: float, *,
            hit_rate: float, retrain: float, inference: float = 0.0) -> list[Prediction]:
    """Both campaigns' predictions (see the module docstring)."""
    out = []
    for mode in MODES:
        costs = SurrogateCosts(
            real=real_seconds, hit_rate=hit_rate if mode == "surrogate" else 0.0,
            inference=inference, retrain=retrain,
            min_pairs=cfg.min_pairs if mode == "surrogate" else 10 ** 9,
            every=cfg.retrain_every, audit_fraction=cfg.audit_fraction, seed=cfg.seed)

        async def main(costs: SurrogateCosts = costs) -> tuple[float, Any]:
            async with open_simulated_session(platform) as s:
                ms = ModelledSurrogate(s, costs, name="hf", value=harmonic)

                async def energy(x: np.ndarray) -> float:
                    return float(await ms(x))
                t0 = s.time()
                await asyncio.gather(*(
                    run_chain(i, energy, start, cfg.steps, cfg.temperature,
                              cfg.seed * 10_007 + i, cfg.moves)
                    for i, start in enumerate(starts(cfg))))
                wall = s.time() - t0
            return wall, ms.counts
        wall, n = run_virtual(main())
        out.append(Prediction(mode=mode, wall_s=wall, real_tasks=n.real,
                              audit_tasks=n.audits))
    return out
