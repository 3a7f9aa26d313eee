"""The discrete-event driver: the same scheduler core on a virtual clock.

Contract: no real processes, no wall clock; durations come from the caller. Imports
``tandem.core``, ``tandem.spec`` and ``tandem.trace``.
"""

from tandem.sim.simulator import SimResult, SimTask, simulate

__all__ = ["SimResult", "SimTask", "simulate"]
