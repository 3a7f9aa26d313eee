"""The discrete-event driver: the same scheduler core on a virtual clock.

Contract: no real processes, no wall clock; durations come from a model (the workflow's, or
one fitted from a past trace). Imports ``tandem.core``, ``tandem.spec`` and ``tandem.trace``;
the agent modules also drive the runtime's own Session on a virtual-time event loop. Only
:func:`calibrate` reads files; :func:`simulate_to_run_dir` and a simulated session given a
``run_dir`` write a trace.

- :func:`run` / :func:`simulate`: one run of given tasks and durations;
- :func:`predict`: a workflow, once per seed, with makespan statistics;
- :func:`calibrate`: duration models and overheads from a run directory's trace;
- :func:`what_if`: makespan and node-hours for platforms of different sizes;
- :func:`simulate_agents`, :func:`open_simulated_session`, :func:`run_virtual`: agents and
  steering code on virtual time — the real session on a :class:`VirtualEventLoop`, tasks
  modelled by a :class:`ModelBackend`.
Imports: tandem.lazy, tandem.sim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_getattr
from tandem.sim.calibrate import Calibration, calibrate
from tandem.sim.predict import Prediction, predict, simulate_to_run_dir
from tandem.sim.simulator import SimResult, SimTask, run, simulate
from tandem.sim.whatif import WhatIfRow, platform_like, what_if

# Agents on virtual time drive the runtime (asyncio, the Session): imported on first use, so
# predictions do not pay for them.
_LAZY = {
    "AgentSimulation": "tandem.sim.agents", "open_simulated_session": "tandem.sim.agents",
    "simulate_agents": "tandem.sim.agents", "ModelBackend": "tandem.sim.model_backend",
    "SimulationStuck": "tandem.sim.virtual", "VirtualEventLoop": "tandem.sim.virtual",
    "run_virtual": "tandem.sim.virtual",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


if TYPE_CHECKING:
    from tandem.sim.agents import AgentSimulation, open_simulated_session, simulate_agents
    from tandem.sim.model_backend import ModelBackend
    from tandem.sim.virtual import SimulationStuck, VirtualEventLoop, run_virtual

__all__ = [
    "AgentSimulation", "Calibration", "ModelBackend", "Prediction", "SimResult", "SimTask",
    "SimulationStuck", "VirtualEventLoop", "WhatIfRow", "calibrate", "open_simulated_session",
    "platform_like", "predict", "run", "run_virtual", "simulate", "simulate_agents",
    "simulate_to_run_dir", "what_if",
]
