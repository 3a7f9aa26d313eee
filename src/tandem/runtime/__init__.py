"""The asyncio runtime: Session, futures, waiting helpers and the backend interface.

Contract: the only package that awaits. Imports ``tandem.core``, ``tandem.spec``,
``tandem.trace`` and ``tandem.backends``.
Imports: nothing from tandem.
"""
