"""tandem.surrogate: a surrogate that answers for an expensive function when it can be trusted.

``Surrogate(session, fn, bound=...)`` wraps a function; ``await sur(x)`` returns the model's
answer when its uncertainty is under a threshold that a controller moves to hold the error
bound, measured by audits, else runs ``fn(x)`` as a task. Modules:
:mod:`~tandem.surrogate.wrapper` (the wrapper), :mod:`~tandem.surrogate.options` (call
options, :class:`Retraining`, :class:`Serving`), :mod:`~tandem.surrogate.serve` (predicting in
warm workers),
:mod:`~tandem.surrogate.controller` (the bound and the PI rule),
:mod:`~tandem.surrogate.policy` (the default trust policy),
:mod:`~tandem.surrogate.protocols` (model, policy, store),
:mod:`~tandem.surrogate.gp` and :mod:`~tandem.surrogate.ensemble` (default models),
:mod:`~tandem.surrogate.store`, :mod:`~tandem.surrogate.versions` (the retraining task, model
files), :mod:`~tandem.surrogate.records` and :mod:`~tandem.surrogate.summary`;
:mod:`~tandem.surrogate.modelled` is a surrogate-backed function as a cost model, to predict a
campaign on virtual time. Names are
imported on first use, so a worker that runs a retraining imports only what it needs. See
docs/surrogate.md.
Imports: tandem.lazy, tandem.surrogate.controller, tandem.surrogate.ensemble, tandem.surrogate.gp,
tandem.surrogate.modelled, tandem.surrogate.options, tandem.surrogate.policy,
tandem.surrogate.protocols, tandem.surrogate.records, tandem.surrogate.serve,
tandem.surrogate.store, tandem.surrogate.summary, tandem.surrogate.versions,
tandem.surrogate.wrapper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_getattr

_WHERE = {
    "Surrogate": "tandem.surrogate.wrapper", "Retraining": "tandem.surrogate.options",
    "Serving": "tandem.surrogate.options", "infer": "tandem.surrogate.serve",
    "ErrorBound": "tandem.surrogate.controller", "Gains": "tandem.surrogate.controller",
    "BoundPolicy": "tandem.surrogate.policy", "Model": "tandem.surrogate.protocols",
    "TrustPolicy": "tandem.surrogate.protocols", "DataStore": "tandem.surrogate.protocols",
    "GPModel": "tandem.surrogate.gp", "EnsembleModel": "tandem.surrogate.ensemble",
    "MemoryStore": "tandem.surrogate.store", "ModelVersion": "tandem.surrogate.versions",
    "load_version": "tandem.surrogate.versions", "read_log": "tandem.surrogate.records",
    "SurrogateSummary": "tandem.surrogate.summary", "summarize": "tandem.surrogate.summary",
    "read_summary": "tandem.surrogate.summary",
    "ModelledSurrogate": "tandem.surrogate.modelled",
    "SurrogateCosts": "tandem.surrogate.modelled", "ModelledCounts": "tandem.surrogate.modelled",
}

__all__ = ["BoundPolicy", "DataStore", "EnsembleModel", "ErrorBound", "GPModel", "Gains",
           "MemoryStore", "Model", "ModelVersion", "ModelledCounts", "ModelledSurrogate",
           "Retraining", "Serving", "Surrogate", "SurrogateCosts", "SurrogateSummary",
           "TrustPolicy", "infer", "load_version", "read_log", "read_summary", "summarize"]


__getattr__ = lazy_getattr(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tandem.surrogate.controller import ErrorBound, Gains
    from tandem.surrogate.ensemble import EnsembleModel
    from tandem.surrogate.gp import GPModel
    from tandem.surrogate.modelled import ModelledCounts, ModelledSurrogate, SurrogateCosts
    from tandem.surrogate.options import Retraining, Serving
    from tandem.surrogate.policy import BoundPolicy
    from tandem.surrogate.protocols import DataStore, Model, TrustPolicy
    from tandem.surrogate.records import read_log
    from tandem.surrogate.serve import infer
    from tandem.surrogate.store import MemoryStore
    from tandem.surrogate.summary import SurrogateSummary, read_summary, summarize
    from tandem.surrogate.versions import ModelVersion, load_version
    from tandem.surrogate.wrapper import Surrogate
