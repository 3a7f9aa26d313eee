"""Metropolis Monte Carlo of one water molecule in its internal coordinates.

Contract: :func:`run_chain` runs one chain of ``steps`` proposals from a start geometry,
awaiting ``energy(descriptor)`` (millihartree) for each proposal: the function itself run as a
task, or a surrogate that answers for it. Proposals move ``r1``, ``r2`` (Å) and ``theta``
(radians) by Gaussian steps; a proposal outside :data:`BOX` is rejected without an energy. The
chain samples the classical Boltzmann distribution of the molecule's Cartesian coordinates at
``temperature``, marginalised over rotations: in internal coordinates its density is
``r1² r2² sin(theta) exp(-E / kT)``, so the acceptance has that Jacobian. Random numbers come
from one generator per chain (``seed``), so a chain's proposals are its own whatever the other
chains do. :func:`observables` reduces chains to the means the application compares, with
standard errors from batch means.
Imports: tandem_apps.abinitio.water.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tandem_apps.abinitio.water import descriptor

KB_MILLIHARTREE = 3.166811563e-3
"""Boltzmann's constant in millihartree per kelvin."""
BOX = ((0.6, 1.6), (0.6, 1.6), (math.radians(60.0), math.radians(170.0)))
"""Where a chain may go: bond lengths (Å) and angle (radians)."""


@dataclass(frozen=True, slots=True)
class Moves:
    """Step sizes of the Gaussian proposals: bonds in Å, the angle in degrees."""

    bond: float = 0.03
    angle: float = 4.0


@dataclass(frozen=True, slots=True)
class Sample:
    """The chain's state after one step."""

    r1: float
    r2: float
    theta: float
    energy: float
    accepted: bool


@dataclass(frozen=True, slots=True)
class Chain:
    """One chain as it ran."""

    index: int
    samples: tuple[Sample, ...]

    @property
    def acceptance(self) -> float:
        return sum(s.accepted for s in self.samples) / max(1, len(self.samples))


def inside(r1: float, r2: float, theta: float) -> bool:
    (a, b), (c, d), (e, f) = BOX
    return a < r1 < b and c < r2 < d and e < theta < f


def log_acceptance(old: tuple[float, float, float], e_old: float,
                   new: tuple[float, float, float], e_new: float, kt: float) -> float:
    """The log of the Metropolis ratio of ``new`` over ``old`` (energies in millihartree,
    ``kt`` in millihartree), Jacobian included."""
    return (-(e_new - e_old) / kt + 2 * math.log(new[0] / old[0])
            + 2 * math.log(new[1] / old[1]) + math.log(math.sin(new[2]) / math.sin(old[2])))


Energy = Callable[[np.ndarray], Awaitable[float]]


async def run_chain(index: int, energy: Energy, start: tuple[float, float, float],
                    steps: int, temperature: float, seed: int,
                    moves: Moves = Moves()) -> Chain:
    """Run one chain (see the module docstring)."""
    rng = np.random.default_rng(seed)
    kt = KB_MILLIHARTREE * temperature
    x = start
    e = float(await energy(descriptor(*x)))
    samples: list[Sample] = []
    for _ in range(steps):
        step = rng.normal(size=3) * (moves.bond, moves.bond, math.radians(moves.angle))
        new = (x[0] + step[0], x[1] + step[1], x[2] + step[2])
        u = rng.random()
        accepted = False
        if inside(*new):
            e_new = float(await energy(descriptor(*new)))
            if math.log(max(u, 1e-300)) < log_acceptance(x, e, new, e_new, kt):
                x, e, accepted = new, e_new, True
        samples.append(Sample(r1=x[0], r2=x[1], theta=x[2], energy=e, accepted=accepted))
    return Chain(index=index, samples=tuple(samples))


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean and its standard error."""

    mean: float
    se: float


def batch_mean(values: Sequence[Sequence[float]], batches: int = 10) -> Estimate:
    """The mean of every chain's values and its standard error from ``batches`` batch means
    per chain (the batches of a chain are taken as independent)."""
    means: list[float] = []
    for chain in values:
        n = len(chain) // batches
        means.extend(statistics.fmean(chain[i * n:(i + 1) * n]) for i in range(batches) if n)
    if len(means) < 2:
        flat = [v for c in values for v in c]
        return Estimate(mean=statistics.fmean(flat) if flat else math.nan, se=math.nan)
    return Estimate(mean=statistics.fmean(means),
                    se=statistics.stdev(means) / math.sqrt(len(means)))


def observables(chains: Sequence[Chain], burn: float = 0.2) -> dict[str, Estimate]:
    """Mean energy (millihartree), O–H bond length (Å) and H–O–H angle (degrees) over the
    chains, the first ``burn`` of each left out."""
    kept = [c.samples[int(len(c.samples) * burn):] for c in chains]
    return {
        "energy_mEh": batch_mean([[s.energy for s in c] for c in kept]),
        "bond_A": batch_mean([[(s.r1 + s.r2) / 2 for s in c] for c in kept]),
        "angle_deg": batch_mean([[math.degrees(s.theta) for s in c] for c in kept]),
    }


def angle_histogram(chains: Sequence[Chain], bins: Sequence[float],
                    burn: float = 0.2) -> list[float]:
    """The fraction of kept samples whose angle (degrees) falls in each bin."""
    angles = [math.degrees(s.theta) for c in chains
              for s in c.samples[int(len(c.samples) * burn):]]
    counts, _ = np.histogram(angles, bins=np.asarray(bins))
    return [float(c) / max(1, len(angles)) for c in counts]
