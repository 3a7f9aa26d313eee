"""The Monte Carlo chain samples its documented density; observables and their errors."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from tandem_apps.abinitio.chain import (
    BOX,
    Chain,
    Sample,
    batch_mean,
    log_acceptance,
    observables,
    run_chain,
)


async def flat(x: np.ndarray) -> float:
    return 0.0


def test_on_a_flat_energy_the_chain_samples_the_jacobian() -> None:
    """E = 0: the density is r1² r2² sin(theta) in the box, whose means are known."""
    chain = asyncio.run(run_chain(0, flat, (1.0, 1.0, 1.8), 40_000, 300.0, seed=5))
    kept = chain.samples[2000:]
    lo, hi = BOX[2]
    mean_theta = ((math.sin(hi) - hi * math.cos(hi)) - (math.sin(lo) - lo * math.cos(lo))) / (
        math.cos(lo) - math.cos(hi))                         # ∫θ sinθ / ∫ sinθ
    a, b = BOX[0]
    mean_r = 3 / 4 * (b ** 4 - a ** 4) / (b ** 3 - a ** 3)   # ∫r·r² / ∫r²
    assert np.mean([s.theta for s in kept]) == pytest.approx(mean_theta, abs=0.03)
    assert np.mean([s.r1 for s in kept]) == pytest.approx(mean_r, abs=0.02)


def test_a_harmonic_bond_sits_at_its_minimum_when_cold() -> None:
    async def harmonic(x: np.ndarray) -> float:     # millihartree; x = (r1+r2, (r1-r2)², θ)
        return 2e3 * ((x[0] / 2 - 0.95) ** 2 + x[1] / 4) + 1e2 * (x[2] - 1.8) ** 2

    chain = asyncio.run(run_chain(0, harmonic, (0.95, 0.95, 1.8), 5000, 300.0, seed=2))
    obs = observables([chain])
    assert obs["bond_A"].mean == pytest.approx(0.95, abs=0.01)
    assert obs["angle_deg"].mean == pytest.approx(math.degrees(1.8), abs=2.0)
    assert 0.05 < chain.acceptance < 0.95


def test_the_ratio_includes_the_jacobian() -> None:
    old, new = (1.0, 1.0, math.pi / 2), (2.0, 1.0, math.pi / 6)
    assert log_acceptance(old, 0.0, new, 0.0, 1.0) == pytest.approx(
        2 * math.log(2) + math.log(0.5))
    assert log_acceptance(old, 0.0, old, 3.0, 1.5) == pytest.approx(-2.0)


def test_a_proposal_outside_the_box_costs_no_energy() -> None:
    asked = []

    async def counting(x: np.ndarray) -> float:
        asked.append(x)
        return 0.0

    chain = asyncio.run(run_chain(0, counting, (1.59, 1.59, 1.8), 200, 300.0, seed=1))
    inside = sum(1 for s in chain.samples if s.accepted)
    assert len(asked) < 201          # some proposals left the box and were not evaluated
    assert len(asked) >= inside + 1


def test_batch_means_give_a_standard_error() -> None:
    rng = np.random.default_rng(0)
    values = [list(rng.normal(3.0, 1.0, size=1000)) for _ in range(4)]
    est = batch_mean(values)
    assert est.mean == pytest.approx(3.0, abs=0.1)
    assert est.se == pytest.approx(1 / math.sqrt(4000), rel=0.35)
    one = Chain(index=0, samples=(Sample(1.0, 1.0, 1.8, 0.0, True),))
    assert math.isnan(observables([one], burn=0.0)["bond_A"].se)
