"""The objective: a deterministic heat solve, checked against known solutions."""

from __future__ import annotations

import numpy as np
import pytest

from tandem_apps.active_learning.objective import (
    SPREADER,
    contact_cells,
    heat_map,
    peak_temperature,
    solve_conduction,
)


def plate(n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Uniform heating q'' = 1e4 W/m^2 on cells of 1 mm, edges held at 300 K."""
    h, q = 1e-3, 1e4
    fixed = np.zeros((n, n), dtype=bool)
    fixed[0, :] = fixed[-1, :] = fixed[:, 0] = fixed[:, -1] = True
    side = (n - 1) * h                   # between the centres of the held edge cells
    return np.full((n, n), q * h * h), fixed, side


def test_uniform_heating_of_a_square_matches_the_series_solution() -> None:
    n, k, t = 81, 100.0, 1e-3
    watts, fixed, side = plate(n)
    temp = solve_conduction(watts, fixed, 300.0, thickness=t, k300=k)
    expected = 0.0736713 * 1e4 * side**2 / (k * t)      # 47.15 K
    assert temp[n // 2, n // 2] - 300.0 == pytest.approx(expected, rel=2e-3)


def test_temperature_dependent_conductivity_matches_the_kirchhoff_transform() -> None:
    n, k, t, a = 41, 100.0, 1e-3, 4.0 / 3.0
    watts, fixed, _ = plate(n)
    linear = solve_conduction(watts, fixed, 300.0, thickness=t, k300=k)
    nonlinear = solve_conduction(watts, fixed, 300.0, thickness=t, k300=k, k_exponent=a)
    # U = integral of k(T)/k300 from 300 K solves the linear problem; invert it.
    u = linear[n // 2, n // 2] - 300.0
    kirchhoff = 300.0 * (1 + u * (1 - a) / 300.0) ** (1 / (1 - a))
    assert nonlinear[n // 2, n // 2] == pytest.approx(kirchhoff, abs=1e-3)
    assert nonlinear[n // 2, n // 2] > linear[n // 2, n // 2]   # k falls as T rises


def test_the_objective_is_deterministic_and_the_physics_adds_up() -> None:
    a = peak_temperature((0.47, 0.48), 48)
    assert peak_temperature((0.47, 0.48), 48) == a
    assert heat_map(SPREADER, 48).sum() == pytest.approx(20.0)          # 20 W in all
    cells = contact_cells(SPREADER, 48, 0.0, 0.0)
    assert cells[:10, :10].any() and not cells[20:, 20:].any()          # a corner contact
    # the compromise between the hot spots beats a contact in a corner by far
    assert a < peak_temperature((0.0, 1.0), 48) - 50
    assert 68.0 < a < 76.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]\^2"):
        peak_temperature((1.2, 0.5), 16)
