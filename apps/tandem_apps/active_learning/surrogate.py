"""The surrogate: a Gaussian process over the parameter box, and where to evaluate next.

Contract: pure numpy/scikit-learn functions, seeded; no I/O, no tandem. :func:`train` is the
campaign's "training" task (it fits the kernel's hyperparameters: the costly step, run on a
core of its own); :func:`propose` runs in the agent (cheap: the fitted kernel is kept, only the
data change).

- The model is fitted to ``log(y - floor)`` (``floor``: the lowest value the objective can
  take, the heat sink's temperature), which turns the steep walls of the peak temperature into
  smooth slopes; the kernel is a Matérn 5/2 with one length scale per parameter, times a
  constant, plus white noise (the objective's grid makes it slightly rough).
- Acquisition: expected improvement (EI) for minimisation, on random candidates plus a cloud
  around the best point so far.
- Batches ("kriging believer"): the points still being evaluated, then each point picked, are
  added to the model at their predicted mean, so one batch (and the runs still in flight) do
  not pile up on one spot; candidates closer than ``min_gap`` to a point evaluated, in flight
  or picked are left out (a near-copy teaches the model nothing).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, qmc
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

Point = tuple[float, ...]


def initial_design(count: int, dims: int, seed: int) -> list[Point]:
    """``count`` points of a Latin hypercube in ``[0, 1]^dims`` (seeded)."""
    if count <= 0:
        return []
    sample = qmc.LatinHypercube(d=dims, seed=seed).random(count)
    return [tuple(float(v) for v in row) for row in sample]


def _target(y: Sequence[float], floor: float) -> np.ndarray:
    return np.log(np.maximum(np.asarray(y, dtype=float) - floor, 1e-9))


def train(x: Sequence[Point], y: Sequence[float], *, floor: float = 0.0, seed: int = 0,
          start: Kernel | None = None) -> GaussianProcessRegressor:
    """Fit a Gaussian process to the evaluations so far: hyperparameters by maximum marginal
    likelihood, from ``start`` (the previous fit's kernel: the search is short) or, the first
    time, from a default kernel with two random restarts."""
    dims = len(x[0])
    if start is None:
        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * Matern(length_scale=[0.3] * dims, length_scale_bounds=(1e-2, 3.0), nu=2.5)
                  + WhiteKernel(1e-4, (1e-8, 1e-1)))
    else:
        kernel = start
    gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed,
                                  n_restarts_optimizer=2 if start is None else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(np.asarray(x, dtype=float), _target(y, floor))
    gp.floor_ = floor
    return gp


def expected_improvement(gp: GaussianProcessRegressor, points: np.ndarray, best: float,
                         xi: float = 0.01) -> np.ndarray:
    """EI of each row of ``points`` below ``best`` (in the model's target units)."""
    mu, sd = gp.predict(points, return_std=True)
    sd = np.maximum(sd, 1e-12)
    z = (best - mu - xi) / sd
    return np.asarray((best - mu - xi) * norm.cdf(z) + sd * norm.pdf(z))


def _condition(gp: GaussianProcessRegressor, x: np.ndarray, t: np.ndarray
               ) -> GaussianProcessRegressor:
    """The same fitted kernel on other data (no hyperparameter search)."""
    g = GaussianProcessRegressor(kernel=gp.kernel_, optimizer=None, normalize_y=True)
    g.fit(x, t)
    return g


def _away(cand: np.ndarray, points: np.ndarray, gap: float) -> np.ndarray:
    """The candidates at least ``gap`` from every one of ``points``."""
    if not len(points) or not len(cand):
        return cand
    d2 = ((cand[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(cand[d2.min(axis=1) >= gap * gap])


def propose(gp: GaussianProcessRegressor, x: Sequence[Point], y: Sequence[float],
            pending: Sequence[Point], count: int, rng: np.random.Generator,
            candidates: int = 2048, min_gap: float = 0.02) -> list[Point]:
    """``count`` points to evaluate next: the best EI among candidates, one at a time, each
    added to the model at its predicted value (as are the ``pending`` points) before the next
    pick. ``gp`` is :func:`train`'s model (of some of ``x``, ``y``: the points evaluated since
    keep its kernel)."""
    if count <= 0:
        return []
    floor = float(getattr(gp, "floor_", 0.0))
    dims = len(x[0])
    xs = np.asarray(x, dtype=float)
    ts = _target(y, floor)
    best_x = xs[int(np.argmin(ts))]
    cloud = np.clip(best_x + rng.normal(0.0, 0.05, (candidates // 4, dims)), 0.0, 1.0)
    cand = np.vstack([rng.random((candidates, dims)), cloud])
    model = _condition(gp, xs, ts)
    if pending:
        p = np.asarray(pending, dtype=float)
        xs, ts = np.vstack([xs, p]), np.concatenate([ts, model.predict(p)])
        model = _condition(gp, xs, ts)
    cand = _away(cand, xs, min_gap)
    best = float(_target(y, floor).min())
    out: list[Point] = []
    for i in range(count):
        if not len(cand):
            cand = rng.random((candidates, dims))
        ei = expected_improvement(model, cand, best)
        pick = cand[int(np.argmax(ei))]
        out.append(tuple(float(v) for v in pick))
        cand = _away(cand, pick[None, :], min_gap)
        if i + 1 < count:
            xs = np.vstack([xs, pick])
            ts = np.concatenate([ts, model.predict(pick[None, :])])
            model = _condition(gp, xs, ts)
    return out


def predicted_minimum(gp: GaussianProcessRegressor, dims: int, rng: np.random.Generator,
                      candidates: int = 4096) -> tuple[Point, float]:
    """Where the model's mean is lowest among random candidates, and that value (objective
    units)."""
    cand = rng.random((candidates, dims))
    mu = gp.predict(cand)
    j = int(np.argmin(mu))
    return tuple(float(v) for v in cand[j]), float(np.exp(mu[j]) + getattr(gp, "floor_", 0.0))
