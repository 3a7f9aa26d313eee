"""The campaign's task graph as a tandem Workflow: for prediction and the sleep-based variant.

Contract: :func:`ddmd_workflow` turns a :class:`CampaignConfig` and per-stage durations into a
:class:`tandem.Workflow` whose ``depends_on`` edges are the synchronous campaign (run in
``barrier`` mode: iteration k+1's simulations start after iteration k's agent) and whose
``async_depends_on`` edges are the asynchronous one (segment k+1 of a lineage follows its
segment k and the agent of round ``k - max_staleness``; it never waits for fresher restart
points). It is the static graph for ``tandem predict``, not what the driver
(:mod:`tandem_apps.ddmd.campaign`) submits: the driver submits a segment only when its lineage
may go on, and the learner waits for agent ``I{k-1}`` before ``A{k}``; the app predicts by
running that driver on virtual time (:mod:`tandem_apps.ddmd.predict`). Pure: no I/O.

Per round k (= iteration): ``S{k}.{j}`` (simulation of lineage j), ``A{k}`` (aggregation of
every segment so far), ``M{k}`` (training, warm-started from ``M{k-1}``), ``I{k}`` (inference +
LOF agent, which publishes restart points).
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from tandem import Duration, Platform, TaskSet, Workflow
from tandem.spec.resources import Resources
from tandem_apps.ddmd.config import CampaignConfig, Stage

STAGES = ("simulation", "aggregation", "training", "agent")


def mock_durations(cfg: CampaignConfig) -> dict[str, Duration]:
    """The configured sleep durations of the mock variant."""
    return {s: Duration(mean=getattr(cfg.mock, s)) for s in STAGES}


def _resources(stage: Stage, gpus_here: int) -> Resources:
    return Resources(cores=stage.cores, gpus=stage.gpu_count(gpus_here))


def ddmd_workflow(cfg: CampaignConfig, platform: Platform,
                  durations: Mapping[str, Duration], *, name: str = "ddmd") -> Workflow:
    """The campaign's graph on ``platform`` with ``durations`` per stage (keys: STAGES)."""
    missing = [s for s in STAGES if s not in durations]
    if missing:
        raise ValueError(f"ddmd_workflow: no duration for stage(s) {', '.join(missing)}")
    gpus = platform.total_gpus
    res = {"simulation": _resources(cfg.md, gpus),
           "aggregation": _resources(cfg.aggregation, gpus),
           "training": _resources(cfg.training, gpus),
           "agent": _resources(cfg.agent, gpus)}
    sets: list[TaskSet] = []
    for k in range(cfg.iterations):
        for j in range(cfg.simulations):
            prev = (f"S{k - 1}.{j}",) if k else ()
            sync = prev + ((f"I{k - 1}",) if k else ())
            stale = k - 1 - cfg.max_staleness
            asyn = prev + ((f"I{stale}",) if stale >= 0 else ())
            sets.append(TaskSet(name=f"S{k}.{j}", kind="simulation", resources=res["simulation"],
                                duration=durations["simulation"], depends_on=sync,
                                async_depends_on=asyn))
        sims = tuple(f"S{k}.{j}" for j in range(cfg.simulations))
        sets.append(TaskSet(name=f"A{k}", kind="aggregation", resources=res["aggregation"],
                            duration=durations["aggregation"], priority=cfg.ml_priority,
                            depends_on=sims))
        sets.append(TaskSet(name=f"M{k}", kind="training", resources=res["training"],
                            duration=durations["training"], priority=cfg.ml_priority,
                            depends_on=(f"A{k}",) + ((f"M{k - 1}",) if k else ())))
        sets.append(TaskSet(name=f"I{k}", kind="agent", resources=res["agent"],
                            duration=durations["agent"], priority=cfg.ml_priority,
                            depends_on=(f"M{k}",)))
    return Workflow(name=name, platform=platform, task_sets=tuple(sets), mode="async")


def workflow_yaml(wf: Workflow) -> str:
    """``wf`` as a YAML task-set file that ``tandem predict``/``tandem run`` read back."""
    node = wf.platform.nodes[0]
    sets = []
    for s in wf.task_sets:
        d = s.duration
        entry: dict[str, object] = {"name": s.name, "kind": s.kind,
                                    "cores": s.resources.cores, "gpus": s.resources.gpus}
        if d is not None:
            entry["duration"] = round(d.mean, 6)
        if s.priority:
            entry["priority"] = s.priority
        if s.depends_on:
            entry["depends_on"] = list(s.depends_on)
        if s.async_depends_on is not None and s.async_depends_on != s.depends_on:
            entry["async_depends_on"] = list(s.async_depends_on)
        sets.append(entry)
    doc = {"name": wf.name, "mode": wf.mode,
           "platform": {"nodes": len(wf.platform.nodes), "cores_per_node": len(node.cores),
                        "gpus_per_node": len(node.gpus)},
           "task_sets": sets}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
