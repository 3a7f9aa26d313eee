"""The simulator at scale: a million tasks on 10,000 nodes (42 cores and 6 GPUs each).

    python bench/sim_scale.py [--campaigns 1000] [--iterations 5] [--nodes 10000]
                              [--order critical_path] [--no-backfill] [--profile]

The workflow is an ensemble of independent AI-coupled campaigns (DeepDriveMD-like). Each
iteration of a campaign is six task sets, each after the previous one (set-level dependencies
of moderate fan-in: every task of a set waits for every task of the one before):

    simulation  100 x (6 cores, 1 GPU)    N(600 s, 60 s)   molecular dynamics on a GPU
    aggregation   1 x (8 cores)           60 s             gathers the trajectories
    analysis     21 x (4 cores)           N(200 s, 20 s)
    training      1 x (6 cores, 1 GPU)    N(300 s, 10 s)
    inference    76 x (2 cores, 1 GPU)    N(120 s, 12 s)
    agent         1 x (4 cores)           N(30 s, 3 s)

and the next iteration's simulations follow the agent: 200 tasks per iteration, so 1,000
campaigns x 5 iterations is 1,000,000 tasks (30,000 task sets, 1.9 M task-level edges,
394 per iteration). The simulations alone want 100,000 GPUs at once on a 60,000-GPU machine,
so tasks queue, CPU and GPU tasks share nodes (six simulations leave 6 of a node's 42 cores),
and backfill has work to do.

Prints the time to build and expand the workflow, the simulation's elapsed time, simulated
task events per second (submissions, starts, exits and timers handed to the core), the peak
RSS (``resource.getrusage``), and, last, one JSON line with every number. Nothing passes or
fails on time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tandem.core.policy import Order, Policy  # noqa: E402
from tandem.sim.simulator import run  # noqa: E402
from tandem.spec import Platform, Resources  # noqa: E402
from tandem.spec.workflow import Duration, TaskSet, Workflow  # noqa: E402

STAGES = (   # name, count, cores, gpus, mean, sd
    ("simulation", 100, 6, 1, 600.0, 60.0),
    ("aggregation", 1, 8, 0, 60.0, 0.0),
    ("analysis", 21, 4, 0, 200.0, 20.0),
    ("training", 1, 6, 1, 300.0, 10.0),
    ("inference", 76, 2, 1, 120.0, 12.0),
    ("agent", 1, 4, 0, 30.0, 3.0),
)


def campaigns(n: int, iterations: int, nodes: int) -> Workflow:
    sets: list[TaskSet] = []
    for c in range(n):
        prev: str | None = None
        for i in range(iterations):
            for kind, count, cores, gpus, mean, sd in STAGES:
                name = f"c{c}.i{i}.{kind}"
                sets.append(TaskSet(
                    name=name, count=count, kind=kind,
                    resources=Resources(cores=cores, gpus=gpus),
                    duration=Duration(mean=mean, sd=sd),
                    depends_on=(prev,) if prev else ()))
                prev = name
    return Workflow(name="campaigns", platform=Platform.uniform(nodes, cores=42, gpus=6),
                    task_sets=tuple(sets))


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaigns", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--order", default="critical_path", choices=[o.value for o in Order])
    ap.add_argument("--no-backfill", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="print the top functions (cProfile)")
    args = ap.parse_args()
    out: dict[str, Any] = {"campaigns": args.campaigns, "iterations": args.iterations,
                           "nodes": args.nodes, "order": args.order,
                           "backfill": not args.no_backfill}

    t0 = time.perf_counter()
    wf = campaigns(args.campaigns, args.iterations, args.nodes)
    t1 = time.perf_counter()
    tasks = wf.expand(seed=args.seed)
    specs = [t.spec for t in tasks]
    deps = [t.deps for t in tasks]
    durations = [t.duration or 0.0 for t in tasks]
    del tasks
    t2 = time.perf_counter()
    out["tasks"] = len(specs)
    out["build_s"] = round(t1 - t0, 2)
    out["expand_s"] = round(t2 - t1, 2)
    print(f"workflow: {len(wf.task_sets):,} task sets, {len(specs):,} tasks, "
          f"{sum(len(d) for d in deps):,} task-level edges; built in {t1 - t0:.1f} s, "
          f"expanded in {t2 - t1:.1f} s; RSS {rss_mib():,.0f} MiB", flush=True)

    policy = Policy(order=Order(args.order), backfill=not args.no_backfill)
    prof = cProfile.Profile() if args.profile else None
    t3 = time.perf_counter()
    if prof is not None:
        prof.enable()
    result = run(wf.platform, specs, deps, durations, policy=policy, keep=False)
    if prof is not None:
        prof.disable()
    t4 = time.perf_counter()
    sim_s = t4 - t3
    out["simulate_s"] = round(sim_s, 2)
    out["total_s"] = round(t4 - t0, 2)
    out["events"] = result.events
    out["events_per_s"] = round(result.events / sim_s)
    out["tasks_per_s"] = round(len(specs) / sim_s)
    out["makespan_s"] = round(result.makespan, 1)
    util = result.utilisation(wf.platform)
    out["utilisation"] = {k: round(v, 3) for k, v in util.items()}
    out["peak_rss_mib"] = round(rss_mib())
    print(f"simulation: {len(specs):,} tasks, {result.events:,} events in {sim_s:.1f} s "
          f"({out['events_per_s']:,} events/s, {out['tasks_per_s']:,} tasks/s); "
          f"simulated makespan {result.makespan / 3600:.2f} h, utilisation "
          f"cores {util['cores']:.1%}, GPUs {util['gpus']:.1%}")
    print(f"elapsed {t4 - t0:.1f} s in all; peak RSS {out['peak_rss_mib']:,} MiB")
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
