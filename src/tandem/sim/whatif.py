"""What-if: predicted makespan and cost of one workflow on platforms of different sizes.

Contract: pure computation over :func:`tandem.sim.predict.predict`; no I/O. Imports
``tandem.spec``, ``tandem.core`` (policy) and the other ``tandem.sim`` modules.

Each candidate platform has ``n`` nodes like the workflow's first node (its cores, GPUs and
memory). A row's ``node_hours`` is ``n * p50_from_submit / 3600``: an allocation is paid from
submission, not from the first task's start. A row *meets* the deadline when its 95th
percentile from submission is at most the deadline; the smallest such platform is marked
``chosen``.
Imports: tandem.core.policy, tandem.errors, tandem.model.stats, tandem.sim.calibrate,
tandem.sim.predict, tandem.spec.platform, tandem.spec.workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.core.policy import Policy
from tandem.errors import SpecError
from tandem.model.stats import quantile
from tandem.sim.calibrate import Calibration
from tandem.sim.predict import predict
from tandem.spec.platform import Platform
from tandem.spec.workflow import Workflow


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIfRow:
    """One platform size. Times in seconds; ``meets`` is ``None`` without a deadline."""

    nodes: int
    p50: float
    p95: float
    p50_from_submit: float
    p95_from_submit: float
    node_hours: float
    utilisation: dict[str, float]
    meets: bool | None
    chosen: bool


def platform_like(workflow: Workflow, nodes: int) -> Platform:
    """``nodes`` uniform nodes shaped like the workflow's first node."""
    first = workflow.platform.nodes[0]
    return Platform.uniform(nodes, cores=len(first.cores), gpus=len(first.gpus),
                            memory_mb=first.memory_mb)


def what_if(
    workflow: Workflow,
    calibration: Calibration | None = None,
    *,
    nodes: Sequence[int],
    deadline: float | None = None,
    mode: str | None = None,
    seeds: int | Sequence[int] = 20,
    overhead: float | None = None,
    policy: Policy | None = None,
) -> list[WhatIfRow]:
    """Predict ``workflow`` on ``n`` nodes for each ``n`` in ``nodes`` (sorted, distinct)."""
    sizes = sorted(set(nodes))
    if not sizes or sizes[0] < 1:
        raise SpecError(f"what_if: nodes must be integers >= 1, got {list(nodes)}")
    rows: list[WhatIfRow] = []
    chosen = False
    for n in sizes:
        p = predict(workflow, mode=mode, platform=platform_like(workflow, n), seeds=seeds,
                    overhead=overhead, calibration=calibration, policy=policy,
                    keep_records=False)
        p50s = quantile(p.makespans_from_submit, 0.5)
        p95s = quantile(p.makespans_from_submit, 0.95)
        meets = None if deadline is None else p95s <= deadline
        pick = bool(meets) and not chosen
        chosen = chosen or pick
        rows.append(WhatIfRow(nodes=n, p50=p.p50, p95=p.p95, p50_from_submit=p50s,
                              p95_from_submit=p95s, node_hours=n * p50s / 3600.0,
                              utilisation=p.utilisation, meets=meets, chosen=pick))
    return rows
