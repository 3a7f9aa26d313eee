"""Learned estimates: a submitted task without an ``estimate`` gets one from the history.

Contract: :class:`Estimates` is what the driver asks at each submission
(:meth:`Estimates.fill`). A task that has an estimate is returned as it is: an estimate the
user gave is never replaced. Else, when the history holds done tasks of the task's key
(:func:`~tandem.history.describe.key_of`), the task comes back with ``estimate`` set to the
model's predicted duration and ``estimate_from="learned"``; critical-path order, backfill and
the walltime check read it as they read a given one.

Cost: which keys the history knows is read on a thread started with the session
(:meth:`start`); the first submission waits for it only if it comes before it is done. The
thread then imports scikit-learn (~1 s) when some key has samples enough for a boosted model
and inputs that vary (:meth:`HistoryStore.varying_keys
<tandem.history.store.HistoryStore.varying_keys>`, asked of SQLite): the import holds the
interpreter's lock, which the loop then waits for, so a history whose keys all get medians
never costs it. A
key's model is fitted once per session, at the first submission of that key that the journal
does not restore; a boosted model remembers its predictions per bins of the inputs
(:mod:`tandem.history.model`). A key the history does not know costs a dictionary lookup.
A history that cannot be read is said once (a warning on the ``tandem`` logger) and no
estimate is learned.
Imports: tandem.history.describe, tandem.history.model, tandem.history.store, tandem.spec.task.
"""

from __future__ import annotations

import threading

from tandem.history.describe import KeyCache, inputs, inputs_of
from tandem.history.model import MIN_BOOSTED, Model, fit, sklearn_available
from tandem.history.store import HistoryStore, Row
from tandem.spec.task import TaskSpec

SAMPLES = 1000
"""The newest done tasks of a key that its model is fitted on."""


def samples_of(rows: list[Row]) -> list[tuple[dict[str, float | str], float]]:
    """The model's samples of done rows: each task's inputs and duration."""
    return [(inputs(r.features, r.sizes, r.cores, r.gpus, r.ranks, r.memory_mb), r.duration)
            for r in rows if r.duration is not None]


class Estimates:
    """Fills in estimates from the history in ``store`` (see the module docstring)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.learned = 0
        self._counts: dict[str, int] | None = None
        self._thread: threading.Thread | None = None
        self._keys = KeyCache()
        self._models: dict[str, Model | None] = {}

    def start(self) -> None:
        """Read which keys the history knows, on a thread."""
        if self._thread is None and self._counts is None:
            self._thread = threading.Thread(target=self._load, name="tandem-history",
                                            daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            counts = self.store.done_counts()
        except Exception as e:
            self.store.failed("read", e)
            counts = {}
        self._counts = counts
        if any(n >= MIN_BOOSTED for n in counts.values()) and sklearn_available() \
                and self._varying():
            import sklearn.ensemble  # noqa: F401  (a boosted model's import, off the loop)

    def _varying(self) -> bool:
        try:
            return bool(self.store.varying_keys(MIN_BOOSTED))
        except Exception:
            return True                # fill says what is wrong, if it happens again

    def _known(self) -> dict[str, int]:
        if self._counts is None:
            if self._thread is None:
                self._load()
            else:
                self._thread.join()
        assert self._counts is not None
        return self._counts

    def fill(self, spec: TaskSpec) -> TaskSpec:
        """``spec`` with a learned estimate when it has none and the history knows its key."""
        if spec.estimate is not None:
            return spec
        counts = self._counts if self._counts is not None else self._known()
        if not counts:
            return spec
        key = self._keys.of(spec)
        if key not in counts or self.store.broken:
            return spec
        try:
            estimate = self._estimate(key, spec)
        except Exception as e:       # never fail a submission for the history
            self.store.failed("read", e)
            return spec
        if estimate is None:
            return spec
        self.learned += 1
        return spec.with_estimate(estimate, "learned")

    def model(self, key: str) -> Model | None:
        """The model of ``key`` (fitted at the first call), ``None`` without samples."""
        if key in self._models:
            return self._models[key]
        samples = samples_of(self.store.samples(key, SAMPLES))
        model = self._models[key] = fit(samples) if samples else None
        return model

    def _estimate(self, key: str, spec: TaskSpec) -> float | None:
        model = self.model(key)
        if model is None:
            return None
        if model.kind == "median":
            return model.p50
        return model.predict(inputs_of(spec))[0]
