"""The surrogate picks the known optimum region of a toy, and spreads a batch."""

from __future__ import annotations

import numpy as np

from tandem_apps.active_learning import surrogate


def bowl(p: tuple[float, ...]) -> float:
    x, y = p
    return 1.0 + 10.0 * ((x - 0.3) ** 2 + (y - 0.7) ** 2)


def test_expected_improvement_points_at_the_optimum_of_a_toy() -> None:
    x = surrogate.initial_design(12, 2, seed=3)
    y = [bowl(p) for p in x]
    gp = surrogate.train(x, y, floor=0.0, seed=0)
    (pick,) = surrogate.propose(gp, x, y, [], 1, np.random.default_rng(0))
    assert np.hypot(pick[0] - 0.3, pick[1] - 0.7) < 0.1
    where, value = surrogate.predicted_minimum(gp, 2, np.random.default_rng(1))
    assert np.hypot(where[0] - 0.3, where[1] - 0.7) < 0.1 and abs(value - 1.0) < 0.3


def test_a_batch_and_the_runs_in_flight_do_not_pile_up() -> None:
    x = surrogate.initial_design(10, 2, seed=4)
    y = [bowl(p) for p in x]
    gp = surrogate.train(x, y, seed=0)
    batch = surrogate.propose(gp, x, y, [(0.3, 0.7)], 3, np.random.default_rng(0))
    pts = np.array([*batch, (0.3, 0.7)])
    gaps = [np.hypot(*(pts[i] - pts[j])) for i in range(4) for j in range(i)]
    assert len(batch) == 3 and min(gaps) > 0.02


def test_a_warm_start_refits_quickly_to_the_same_kernel_family() -> None:
    x = surrogate.initial_design(8, 2, seed=5)
    y = [bowl(p) for p in x]
    first = surrogate.train(x, y, seed=0)
    x2 = [*x, (0.31, 0.69)]
    again = surrogate.train(x2, [*y, bowl((0.31, 0.69))], seed=0, start=first.kernel_)
    assert again.kernel_.get_params().keys() == first.kernel_.get_params().keys()
    assert surrogate.initial_design(0, 2, 0) == []
