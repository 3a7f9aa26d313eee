"""The campaigns predicted on virtual time: the all-real one is its calls on the cores, the
surrogate one follows the hit rate."""

from __future__ import annotations

import math

import pytest

import tandem
from tandem_apps.abinitio import water
from tandem_apps.abinitio.campaign import Config
from tandem_apps.abinitio.predict import harmonic, predict


def test_the_all_real_prediction_is_its_calls_on_the_cores() -> None:
    cfg = Config(chains=4, steps=30)
    real, sur = predict(cfg, tandem.Platform.uniform(1, cores=2), 0.1, hit_rate=0.9,
                        retrain=1.0)
    assert real.mode == "real" and sur.mode == "surrogate"
    # each chain evaluates its start and its proposals in the box, one at a time; four
    # chains on two cores: two calls at once
    assert real.wall_s == pytest.approx(real.real_tasks * 0.1 / 2, rel=0.02)
    assert 4 < real.real_tasks <= 4 * 31
    assert sur.real_tasks < real.real_tasks / 2 and sur.wall_s < real.wall_s / 2


def test_the_stand_in_energy_is_lowest_at_equilibrium() -> None:
    x0 = water.descriptor(*water.EQUILIBRIUM)
    assert harmonic(x0) == pytest.approx(0.0)
    r, _, t = water.EQUILIBRIUM
    assert harmonic(water.descriptor(r + 0.05, r, t)) > 0
    assert harmonic(water.descriptor(r, r, t + math.radians(10))) > 0
