"""What a surrogate is told besides its bound: the real calls' task options, when and where
its model is retrained, and where it answers.

Contract: the real calls' options (:data:`CallOptions`, the runtime's ``RunOptions``) and two
frozen values (:class:`Retraining`, :class:`Serving`) that check themselves on construction (a
:class:`~tandem.errors.SpecError` naming the field).
Imports: tandem.errors, tandem.runtime.options, tandem.spec.checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.errors import SpecError
from tandem.runtime.options import RunOptions
from tandem.spec.checks import is_int

CallOptions = RunOptions
"""The real calls' (and audits') task options: :class:`~tandem.runtime.options.TaskOptions`
without the name, kind, key and dependencies, which are the surrogate's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Retraining:
    """When and where the model is refitted: first at ``min_pairs`` stored pairs, then after
    ``every`` new pairs, and (``on_error``) when the mean of the last ``window`` audited errors
    is above the bound. The task holds ``cores`` and ``gpus`` at ``priority``, in ``pool``."""

    every: int = 10
    min_pairs: int = 5
    on_error: bool = True
    window: int = 10
    cores: int = 1
    gpus: int = 0
    priority: int = 0
    pool: str | None = None

    def __post_init__(self) -> None:
        for name, low in (("every", 1), ("min_pairs", 1), ("window", 1), ("cores", 0),
                          ("gpus", 0)):
            v = getattr(self, name)
            if not is_int(v) or v < low:
                raise SpecError(f"Retraining: {name} must be an integer >= {low}, got {v!r}")
        if not is_int(self.priority):
            raise SpecError(f"Retraining: priority must be an integer, got {self.priority!r}")
        if not isinstance(self.on_error, bool):
            raise SpecError(f"Retraining: on_error must be True or False, got "
                            f"{self.on_error!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Serving:
    """Where the model predicts: each call's prediction is a task (kind ``<name>-infer``) in a
    warm function worker holding ``cores`` and ``gpus`` (a model placed on a GPU sees it in
    ``CUDA_VISIBLE_DEVICES``) at ``priority`` (above the real calls', so answers do not queue
    behind them), in ``pool``. Without it, the model predicts in the driver."""

    cores: int = 1
    gpus: int = 0
    priority: int = 10
    pool: str | None = None

    def __post_init__(self) -> None:
        for name in ("cores", "gpus"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise SpecError(f"Serving: {name} must be an integer >= 0, got {v!r}")
        if not is_int(self.priority):
            raise SpecError(f"Serving: priority must be an integer, got {self.priority!r}")
