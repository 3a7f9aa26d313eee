"""Functions and a small model for the surrogate tests (importable by worker processes)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def wiggle(x: Array) -> float:
    """The synthetic 'expensive' function: smooth, known everywhere."""
    return math.sin(3.0 * float(x[0])) + 0.5 * float(x[0])


def noisy(x: Array) -> float:
    """``wiggle`` plus a noise of size 0.1 that no model can learn (a hash of ``x``): an error
    bound of 0.01 cannot be met."""
    h = zlib.crc32(np.asarray(x, dtype=float).tobytes()) / 2**32
    return wiggle(x) + 0.2 * (h - 0.5) * 2


def pair(x: Array) -> Array:
    """A function with a vector output."""
    return np.array([math.sin(float(x[0])), math.cos(float(x[0]))])


def broken(x: Array) -> float:
    raise ValueError(f"cannot evaluate at {float(x[0])}")


def two_d(x: Array) -> Array:
    return np.ones((2, 2))


class Interpolator:
    """A real, cheap 1-D model: linear interpolation between the stored points, whose
    uncertainty is ``scale`` times the distance to the nearest stored point. With a small
    ``scale`` it is over-confident: the threshold it starts with lets errors above the bound
    through, and the controller must lower it."""

    def __init__(self, scale: float = 0.05) -> None:
        self.scale = scale
        self.x: Array = np.empty(0)
        self.y: Array = np.empty(0)

    def fit(self, X: Array, y: Array) -> Interpolator:
        out = Interpolator(self.scale)
        order = np.argsort(X[:, 0])
        out.x, out.y = X[order, 0], np.asarray(y, dtype=float)[order]
        return out

    def predict(self, X: Array) -> tuple[Array, Array]:
        q = X[:, 0]
        mean = np.interp(q, self.x, self.y)
        dist = np.min(np.abs(q[:, None] - self.x[None, :]), axis=1)
        return mean, self.scale * dist


class NoStd:
    """A model without uncertainty: predict gives the mean only."""

    def fit(self, X: Array, y: Array) -> NoStd:
        return self

    def predict(self, X: Array) -> Array:
        return np.zeros(len(X))


DRIVER_PID = "TANDEM_TEST_DRIVER_PID"


class WorkerOnlyModel:
    """Predicts the number of pairs it was fitted on (so an answer names its version), with
    no uncertainty, and refuses to predict in the driver (whose pid is in the environment)."""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def fit(self, X: Array, y: Array) -> WorkerOnlyModel:
        return WorkerOnlyModel(len(X))

    def predict(self, X: Array) -> tuple[Array, Array]:
        import os

        if str(os.getpid()) == os.environ.get(DRIVER_PID):
            raise RuntimeError("predicted in the driver")
        return np.full(len(X), float(self.n)), np.zeros(len(X))


class FailingPredict(WorkerOnlyModel):
    """Fits, then cannot predict."""

    def fit(self, X: Array, y: Array) -> FailingPredict:
        return FailingPredict(len(X))

    def predict(self, X: Array) -> tuple[Array, Array]:
        raise RuntimeError("this model cannot predict")


def counted(x: Array) -> float:
    """``wiggle``, with a line per call in the file named by ``TANDEM_TEST_CALLS`` (tests count
    the real function's executions with it)."""
    import os

    with open(os.environ["TANDEM_TEST_CALLS"], "a") as f:
        f.write(f"{float(x[0])}\n")
    return wiggle(x)
