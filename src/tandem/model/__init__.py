"""The analytic performance model and run metrics.

Contract: pure functions over workflows and task records; no I/O, no clock, no scheduler.

- :func:`analyze`: levels, ``T_seq``, ``T_async``, improvement, speed-up, the waves
  correction, lower bounds and the structural degree of asynchronicity of a workflow;
- :func:`utilisation`, :func:`busy_series`, :func:`makespan`: what a run (real or simulated)
  did with its resources.
Imports: tandem.model.
"""

from tandem.model.analysis import ModelReport, analyze, longest_path, set_waves, t_seq
from tandem.model.doa import doa_struct
from tandem.model.utilisation import busy_series, makespan, utilisation

__all__ = [
    "ModelReport", "analyze", "busy_series", "doa_struct", "longest_path", "makespan",
    "set_waves", "t_seq", "utilisation",
]
