"""The campaign's objective: where to put a heat-pipe contact on a chip's heat spreader.

What it computes. Steady heat conduction in a square silicon heat spreader (20 mm x 20 mm,
1 mm thick) whose conductivity falls with temperature, ``k(T) = 148 (T / 300 K)^(-4/3) W/m/K``
(crystalline silicon near room temperature). A chip below it dissipates 20 W: three Gaussian
hot spots (two processor clusters and a larger accelerator block) on a uniform background. All
the heat leaves through one circular heat-pipe contact (radius 2.5 mm) held at 45 °C; every
other face is adiabatic. The design parameters are the contact's centre ``(x, y)``, as
fractions of the spreader's free area; the output is the spreader's peak temperature in °C.
A contact near one hot spot leaves the others hot, so the best place is a compromise that no
formula gives: it is found by solving.

How. Finite volumes on ``n x n`` cells (two-point fluxes with harmonic-mean conductances, cells
whose centre lies in the contact held at the sink temperature), Picard iteration on ``k(T)``
until no cell moves by more than 1 mK, each step one sparse direct solve (SuperLU, through
scipy). Deterministic: the same parameters and grid give the same bits. With the campaign's
``n = 160`` one evaluation takes 0.3-0.6 s on one core; the best placement (about
``(0.467, 0.476)``) gives 70.5 °C, the corners up to 180 °C. ``n = 64`` (the simulator's model
of the objective) takes about 30 ms and reads 0.7-1.5 K hotter.

Checked against known cases (tests): for a constant conductivity, uniform heating and the edges
held at a fixed temperature, the centre of the square rises by ``0.0736713 q a^2 / (k t)`` (the
classical series solution of Poisson's equation on a square); with ``k(T)`` the solve agrees
with the Kirchhoff transform of that linear solution.

Contract: pure numpy/scipy functions; no I/O, no randomness, no tandem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

KELVIN = 273.15
#: Parameter box: the contact's centre, as fractions of the area it may occupy.
BOUNDS = ((0.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class Spreader:
    """The physical set-up (SI units)."""

    side: float = 0.020            # m
    thickness: float = 0.001       # m
    k300: float = 148.0            # W/m/K at 300 K
    k_exponent: float = 4.0 / 3.0  # k(T) = k300 (T/300)^-exponent
    contact_radius: float = 0.0025  # m
    sink: float = 45.0 + KELVIN    # K
    # hot spots: (x, y, width) as fractions of the side, and watts
    spots: tuple[tuple[float, float, float, float], ...] = (
        (0.25, 0.30, 0.06, 6.0), (0.72, 0.28, 0.05, 4.5), (0.55, 0.75, 0.10, 7.5))
    background: float = 2.0        # W spread uniformly


SPREADER = Spreader()


def heat_map(s: Spreader, n: int) -> np.ndarray:
    """Watts entering each of the ``n x n`` cells (rows are y, columns x)."""
    c = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(c, c, indexing="xy")
    q = np.full((n, n), s.background / (n * n))
    for sx, sy, w, watts in s.spots:
        g = np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * w * w))
        q += watts * g / g.sum()
    return q


def _faces(n: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n * n).reshape(n, n)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return a, b


def solve_conduction(watts: np.ndarray, fixed: np.ndarray, t_fixed: float, *,
                     thickness: float, k300: float, k_exponent: float = 0.0,
                     tol: float = 1e-3, max_iter: int = 50) -> np.ndarray:
    """Steady temperatures (K) of ``n x n`` square cells of a plate: ``watts`` enter each cell,
    cells where ``fixed`` is true are held at ``t_fixed``, the outer edges are adiabatic.
    Between neighbouring cells the conductance is ``k t`` (square cells: width over distance is
    1) with the harmonic mean of their ``k(T)``; Picard iteration until no cell moves by more
    than ``tol`` kelvin."""
    n = watts.shape[0]
    a, b = _faces(n)
    fixed = fixed.ravel()
    free = ~fixed
    if not fixed.any():
        raise ValueError("solve_conduction: no cell is held at a fixed temperature")
    q = watts.ravel()
    temp = np.full(n * n, float(t_fixed))
    size = n * n
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([b, a, a, b])
    for _ in range(max_iter):
        k = k300 * (temp / 300.0) ** (-k_exponent) if k_exponent else np.full(size, k300)
        g = 2.0 * k[a] * k[b] / (k[a] + k[b]) * thickness
        m = sp.csr_matrix((np.concatenate([-g, -g, g, g]), (rows, cols)), shape=(size, size))
        m_free = m[free]
        rhs = q[free] - m_free[:, fixed] @ np.full(int(fixed.sum()), float(t_fixed))
        new = temp.copy()
        new[free] = spla.spsolve(m_free[:, free].tocsc(), rhs)
        new[fixed] = t_fixed
        moved = float(np.abs(new - temp).max())
        temp = new
        if not k_exponent or moved < tol:
            break
    return temp.reshape(n, n)


def contact_cells(s: Spreader, n: int, x: float, y: float) -> np.ndarray:
    """The cells under a contact centred at fractions ``(x, y)`` of the free area."""
    r = s.contact_radius / s.side
    cx, cy = r + x * (1 - 2 * r), r + y * (1 - 2 * r)
    c = (np.arange(n) + 0.5) / n
    gx, gy = np.meshgrid(c, c, indexing="xy")
    return np.asarray((gx - cx) ** 2 + (gy - cy) ** 2 <= r * r)


def peak_temperature(params: Sequence[float], n: int = 160,
                     spreader: Spreader = SPREADER) -> float:
    """The spreader's peak temperature (°C) with the contact at ``params = (x, y)`` in
    ``[0, 1]^2``; ``n`` cells per side."""
    x, y = (float(v) for v in params)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"peak_temperature: parameters must lie in [0, 1]^2, got {params!r}")
    temp = solve_conduction(heat_map(spreader, n), contact_cells(spreader, n, x, y),
                            spreader.sink, thickness=spreader.thickness, k300=spreader.k300,
                            k_exponent=spreader.k_exponent)
    return float(temp.max() - KELVIN)
