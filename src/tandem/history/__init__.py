"""tandem.history: what earlier runs measured, and the duration models learned from it.

Modules: :mod:`~tandem.history.describe` (a task's key and inputs),
:mod:`~tandem.history.store` (the SQLite file), :mod:`~tandem.history.model` (median and
boosted models), :mod:`~tandem.history.keeper` (the instrument that records a run's tasks),
:mod:`~tandem.history.estimates` (estimates filled in at submission),
:mod:`~tandem.history.summary` (``tandem history``). See docs/history.md.
Imports: nothing from tandem.
"""
