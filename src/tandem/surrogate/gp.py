"""The default Gaussian-process model: scikit-learn's ``GaussianProcessRegressor``; its
uncertainty is the posterior standard deviation.

Contract: :class:`GPModel` implements :class:`~tandem.surrogate.protocols.Model`. The kernel
is ``C · RBF + White`` on standardised outputs (``normalize_y``), its hyperparameters fitted
by maximum likelihood with ``restarts`` seeded restarts; ``fit`` returns a new fitted model
and leaves the prototype as it was, so the prototype can be sent to every retraining task.
scikit-learn is imported when a model is fitted, not when tandem is.
Imports: tandem.errors, tandem.spec.checks, tandem.surrogate.protocols.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number
from tandem.surrogate.protocols import Array


class GPModel:
    """A GP with an RBF kernel (one length scale per input dimension) and a white-noise term."""

    def __init__(self, *, length_scale: float = 1.0, noise: float = 1e-6, restarts: int = 2,
                 seed: int = 0) -> None:
        for name, v in (("length_scale", length_scale), ("noise", noise)):
            if not is_number(v) or not math.isfinite(v) or v <= 0:
                raise SpecError(f"GPModel: {name} must be a finite number > 0, got {v!r}")
        if not is_int(restarts) or restarts < 0:
            raise SpecError(f"GPModel: restarts must be an integer >= 0, got {restarts!r}")
        if not is_int(seed):
            raise SpecError(f"GPModel: seed must be an integer, got {seed!r}")
        self.length_scale = float(length_scale)
        self.noise = float(noise)
        self.restarts = restarts
        self.seed = seed
        self._gp: Any = None

    @property
    def fitted(self) -> bool:
        return self._gp is not None

    def fit(self, X: Array, y: Array) -> GPModel:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        X = np.asarray(X, dtype=float)
        d = X.shape[1]
        kernel = (ConstantKernel(1.0, (1e-3, 1e3))
                  * RBF(np.full(d, self.length_scale), (1e-3, 1e3))
                  + WhiteKernel(self.noise, (1e-10, 1e-1)))
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, alpha=1e-10,
                                      n_restarts_optimizer=self.restarts,
                                      random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(X, np.asarray(y, dtype=float))
        out = GPModel(length_scale=self.length_scale, noise=self.noise,
                      restarts=self.restarts, seed=self.seed)
        out._gp = gp
        return out

    def predict(self, X: Array) -> tuple[Array, Array]:
        if self._gp is None:
            raise SpecError("GPModel: predict before fit (fit returns the fitted model)")
        mean, std = self._gp.predict(np.asarray(X, dtype=float), return_std=True)
        mean = np.asarray(mean, dtype=float)
        std = np.asarray(std, dtype=float)
        if std.shape != mean.shape:         # one std per row for several outputs
            std = np.broadcast_to(std.reshape(len(mean), -1), mean.shape).copy()
        return mean, std

    def __repr__(self) -> str:
        state = "fitted" if self._gp is not None else "unfitted"
        return f"GPModel({state}, length_scale={self.length_scale}, noise={self.noise})"
