"""The default data store: the real (x, y) pairs of a surrogate, kept in memory.

Contract: :class:`MemoryStore` implements :class:`~tandem.surrogate.protocols.DataStore`;
it checks that every pair has the shape of the first (x: 1-D, y: a scalar or 1-D) and
gives ``(X, y)`` as arrays (built once per new pair, not per read). ``MemoryStore.of(X, y)``
starts from pairs already known.
Imports: tandem.errors, tandem.surrogate.protocols.
"""

from __future__ import annotations

import numpy as np

from tandem.errors import SpecError
from tandem.surrogate.protocols import Array


class MemoryStore:
    """Pairs in memory, in the order added."""

    def __init__(self) -> None:
        self._x: list[Array] = []
        self._y: list[Array] = []
        self._arrays: tuple[Array, Array] | None = None

    @classmethod
    def of(cls, X: object, y: object) -> MemoryStore:
        """A store holding the rows of ``X`` (n, d) and ``y`` (n,) or (n, m)."""
        xs = np.asarray(X, dtype=float)
        ys = np.asarray(y, dtype=float)
        if xs.ndim != 2 or ys.ndim not in (1, 2) or len(xs) != len(ys):
            raise SpecError(f"MemoryStore.of: X must be (n, d) and y (n,) or (n, m) with the "
                            f"same n, got X {xs.shape} and y {ys.shape}")
        store = cls()
        for xi, yi in zip(xs, ys, strict=True):
            store.add(xi, yi)
        return store

    def add(self, x: Array, y: Array) -> None:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 1 or y.ndim > 1:
            raise SpecError(f"data store: x must be 1-D and y a scalar or 1-D, got x "
                            f"{x.shape} and y {y.shape}")
        if self._x and (x.shape != self._x[0].shape or y.shape != self._y[0].shape):
            raise SpecError(f"data store: a pair of shapes x {x.shape}, y {y.shape} after pairs "
                            f"of x {self._x[0].shape}, y {self._y[0].shape}")
        self._x.append(x)
        self._y.append(y)
        self._arrays = None

    def arrays(self) -> tuple[Array, Array]:
        if self._arrays is None:
            if not self._x:
                return np.empty((0, 0)), np.empty((0,))
            self._arrays = (np.stack(self._x), np.stack(self._y))
        return self._arrays

    def __len__(self) -> int:
        return len(self._x)
