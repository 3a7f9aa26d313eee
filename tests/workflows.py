"""The shipped YAML workflows of the paper and their reference numbers (paper-model.md 4).

Shared by the config, CLI and integration tests. :func:`simulated_makespan` runs the real
scheduler core on virtual time (``tandem.sim.simulate``) with the same policy a real run uses.
"""

from __future__ import annotations

from pathlib import Path

from tandem.core.policy import Mode, Policy
from tandem.sim import SimTask, simulate
from tandem.spec.workflow import ModeName, Workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "paper"

# workflow file -> (barrier makespan, async makespan), unscaled seconds
REFERENCE: dict[str, tuple[float, float]] = {
    "slide": (7500.0, 5500.0),
    "dg1": (1875.7, 1875.7),
    "dg2": (1769.1, 1307.6),
    "ddmd_mock": (1575.0, 1257.5),
}


def simulated_makespan(wf: Workflow, mode: ModeName, *, time_scale: float | None = None,
                       seed: int = 0) -> float:
    """The simulator's makespan for ``wf`` in ``mode`` (durations drawn with ``seed``)."""
    tasks = wf.expand(mode=mode, seed=seed, time_scale=time_scale)
    sim = [SimTask(spec=t.spec, duration=t.duration or 0.0, deps=t.deps) for t in tasks]
    return simulate(wf.platform, sim, Policy(mode=Mode(mode))).makespan
