"""Inference in warm workers: the task function that predicts with a saved model version,
loaded once per worker and version.

Contract: :func:`infer` runs in a function worker (or in the driver on virtual time). It reads
version ``path`` (:func:`tandem.surrogate.versions.load_version`) the first time this process
is asked for it and keeps the two newest versions it has read, so a new version is taken up
by the next call that names it — no worker restarts, no call waits for another's model — and
calls still in flight on the version before keep theirs. It returns the model's ``(mean,
std)`` for one ``x``.
Imports: tandem.surrogate.versions.
"""

from __future__ import annotations

from typing import Any

from tandem.surrogate.versions import load_version

KEPT_VERSIONS = 2
_loaded: dict[str, Any] = {}      # version path -> model, in this process, oldest first


def infer(path: str, x: Any) -> tuple[Any, Any]:
    """The prediction of the model saved at ``path`` for the one input ``x`` (a 1-D array)."""
    model = _loaded.get(path)
    if model is None:
        model = load_version(path)
        _loaded[path] = model
        while len(_loaded) > KEPT_VERSIONS:
            del _loaded[next(iter(_loaded))]
    return model.predict(x[None, :])  # type: ignore[no-any-return]


def loaded() -> list[str]:
    """The version paths this process holds now (oldest first)."""
    return list(_loaded)
