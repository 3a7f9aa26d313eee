"""The discrete-event driver: the same scheduler core on a virtual clock.

Contract: no real processes, no wall clock; durations come from a model (the workflow's, or
one fitted from a past trace). Imports ``tandem.core``, ``tandem.spec`` and ``tandem.trace``;
only :func:`calibrate` reads files and only :func:`simulate_to_run_dir` writes them.

- :func:`run` / :func:`simulate`: one run of given tasks and durations;
- :func:`predict`: a workflow, once per seed, with makespan statistics;
- :func:`calibrate`: duration models and overheads from a run directory's trace;
- :func:`what_if`: makespan and node-hours for platforms of different sizes.
"""

from tandem.sim.calibrate import Calibration, calibrate
from tandem.sim.predict import Prediction, predict, simulate_to_run_dir
from tandem.sim.simulator import SimResult, SimTask, run, simulate
from tandem.sim.whatif import WhatIfRow, platform_like, what_if

__all__ = [
    "Calibration", "Prediction", "SimResult", "SimTask", "WhatIfRow", "calibrate",
    "platform_like", "predict", "run", "simulate", "simulate_to_run_dir", "what_if",
]
