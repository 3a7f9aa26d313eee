"""Active learning on tandem (ML-out-HPC): a surrogate chooses where to place a heat-pipe
contact on a chip's heat spreader, against a non-adaptive sweep with the same resources.

Run it with ``python -m tandem_apps.active_learning`` (see docs/agents.md). :mod:`.objective` is
the physics (a nonlinear heat-conduction solve), :mod:`.surrogate` the Gaussian process and
its acquisition, :mod:`.campaign` the tandem agent and the baseline.
"""
