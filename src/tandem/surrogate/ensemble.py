"""The default neural-network model: an ensemble of small PyTorch MLPs; its uncertainty is the
members' spread (the standard deviation of their predictions).

Contract: :class:`EnsembleModel` implements :class:`~tandem.surrogate.protocols.Model`.
``fit`` trains ``members`` MLPs (tanh, full-batch Adam, each from its own random
initialisation, all in one batched pass) on standardised inputs and outputs, inside whatever
task runs it (``threads``: 1 by default, the fastest for small networks; ``None``: one per
core the task is pinned to); it returns a new model holding the weights as NumPy arrays, so
``predict`` is a NumPy forward pass: serving needs no PyTorch, and a fitted model pickles
without it. PyTorch is imported by ``fit`` only, never when tandem is.
Imports: tandem.errors, tandem.spec.checks, tandem.surrogate.protocols.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number
from tandem.surrogate.protocols import Array

Layers = list[tuple[Array, Array]]


class EnsembleModel:
    """``members`` MLPs of ``hidden`` widths, trained ``epochs`` full-batch Adam steps at ``lr``."""

    def __init__(self, *, members: int = 5, hidden: tuple[int, ...] = (64, 64),
                 epochs: int = 600, lr: float = 0.01, seed: int = 0,
                 threads: int | None = 1) -> None:
        if not is_int(members) or members < 2:
            raise SpecError(f"EnsembleModel: members must be an integer >= 2 (the spread needs "
                            f"two), got {members!r}")
        if not (isinstance(hidden, tuple) and hidden
                and all(is_int(h) and h > 0 for h in hidden)):
            raise SpecError(f"EnsembleModel: hidden must be a tuple of widths > 0, got "
                            f"{hidden!r}")
        if not is_int(epochs) or epochs < 1:
            raise SpecError(f"EnsembleModel: epochs must be an integer >= 1, got {epochs!r}")
        if not is_number(lr) or not math.isfinite(lr) or lr <= 0:
            raise SpecError(f"EnsembleModel: lr must be a finite number > 0, got {lr!r}")
        if not is_int(seed):
            raise SpecError(f"EnsembleModel: seed must be an integer, got {seed!r}")
        if threads is not None and (not is_int(threads) or threads < 1):
            raise SpecError(f"EnsembleModel: threads must be an integer >= 1 or None, got "
                            f"{threads!r}")
        self.threads = threads
        self.members = members
        self.hidden = hidden
        self.epochs = epochs
        self.lr = float(lr)
        self.seed = seed
        self._nets: list[Layers] = []
        self._scale: tuple[Array, Array, Array, Array] | None = None
        self._vector = False

    @property
    def fitted(self) -> bool:
        return self._scale is not None

    def fit(self, X: Array, y: Array) -> EnsembleModel:
        import torch

        torch.set_num_threads(self.threads if self.threads is not None
                              else max(1, len(os.sched_getaffinity(0))))
        X = np.asarray(X, dtype=float)
        Y = np.asarray(y, dtype=float)
        vector = Y.ndim == 2
        Y2 = Y if vector else Y[:, None]
        xm, xs = X.mean(0), X.std(0) + 1e-12
        ym, ys = Y2.mean(0), Y2.std(0) + 1e-12
        xt = torch.as_tensor((X - xm) / xs, dtype=torch.float32)
        yt = torch.as_tensor((Y2 - ym) / ys, dtype=torch.float32)
        sizes = [X.shape[1], *self.hidden, Y2.shape[1]]
        out = EnsembleModel(members=self.members, hidden=self.hidden, epochs=self.epochs,
                            lr=self.lr, seed=self.seed, threads=self.threads)
        # All members train at once: each layer is a batch of ``members`` weight matrices
        # (PyTorch's default initialisation, from the seed), one batched matmul per layer.
        gen = torch.Generator().manual_seed(self.seed)
        params: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i in range(len(sizes) - 1):
            bound = 1.0 / math.sqrt(sizes[i])
            w = (torch.rand(self.members, sizes[i], sizes[i + 1], generator=gen) * 2 - 1)
            b = (torch.rand(self.members, 1, sizes[i + 1], generator=gen) * 2 - 1)
            params.append(((w * bound).requires_grad_(), (b * bound).requires_grad_()))
        opt = torch.optim.Adam([t for pair in params for t in pair], lr=self.lr)
        xb = xt.expand(self.members, *xt.shape)
        for _ in range(self.epochs):
            opt.zero_grad()
            h = xb
            for i, (w, b) in enumerate(params):
                h = torch.baddbmm(b, h, w)
                if i < len(params) - 1:
                    h = torch.tanh(h)
            loss = torch.mean((h - yt) ** 2) * self.members
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        out._nets = [[(w[k].detach().numpy().astype(float), b[k, 0].detach().numpy()
                       .astype(float)) for w, b in params] for k in range(self.members)]
        out._scale = (xm, xs, ym, ys)
        out._vector = vector
        return out

    def predict(self, X: Array) -> tuple[Array, Array]:
        if self._scale is None:
            raise SpecError("EnsembleModel: predict before fit (fit returns the fitted model)")
        xm, xs, ym, ys = self._scale
        h0 = (np.asarray(X, dtype=float) - xm) / xs
        preds = []
        for layers in self._nets:
            h = h0
            for i, (w, b) in enumerate(layers):
                h = h @ w + b
                if i < len(layers) - 1:
                    h = np.tanh(h)
            preds.append(h * ys + ym)
        stack = np.stack(preds)
        mean, std = stack.mean(0), stack.std(0)
        if not self._vector:
            return mean[:, 0], std[:, 0]
        return mean, std

    def __repr__(self) -> str:
        state = "fitted" if self._scale is not None else "unfitted"
        return f"EnsembleModel({state}, members={self.members}, hidden={self.hidden})"
