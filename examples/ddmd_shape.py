"""The DeepDriveMD workflow shape with sleeping tasks, run asynchronously and stage-synchronously.

Per iteration: ``sims`` one-core simulations, an aggregation, a training and an inference that
each ask for the one GPU and no core. Asynchronous structure: simulation j of iteration i
follows simulation j of iteration i-1 and, from i >= 2, the inference of iteration i-2;
aggregation i follows all simulations of i; training i follows aggregation i and training i-1;
inference i follows training i. In barrier mode, the same graph runs level by level.

    python examples/ddmd_shape.py [--iterations 4] [--sims 8] [--scale 1.0]

Prints the makespan of each mode, the improvement I = 1 - T_async / T_barrier and the lower
bound max(critical path, work / capacity per resource).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

import tandem
from tandem import Node, Platform, TaskFuture

DURATIONS = {"simulation": 1.0, "aggregation": 0.2, "training": 2.0, "inference": 0.5}


def platform() -> Platform:
    """2 cores and one (virtual, on a machine without one) GPU, as in the peer measurements."""
    local = Platform.local()
    gpus = local.nodes[0].gpus[:1] or ("0",)
    return Platform(nodes=(Node(name=local.nodes[0].name, cores=local.nodes[0].cores[:2],
                                gpus=gpus, virtual_gpus=not local.nodes[0].gpus),))


def submit_ddmd(session: tandem.Session, iterations: int, sims: int, scale: float
                ) -> list[TaskFuture]:
    d = {k: v * scale for k, v in DURATIONS.items()}
    sim: dict[tuple[int, int], TaskFuture] = {}
    agg: dict[int, TaskFuture] = {}
    train: dict[int, TaskFuture] = {}
    inf: dict[int, TaskFuture] = {}
    for i in range(iterations):
        for j in range(sims):
            after = [sim[i - 1, j]] if i >= 1 else []
            if i >= 2:
                after.append(inf[i - 2])
            sim[i, j] = session.submit(time.sleep, d["simulation"], name=f"sim{i}.{j}",
                                       kind="simulation", cores=1,
                                       estimate=d["simulation"], after=after)
        agg[i] = session.submit(time.sleep, d["aggregation"], name=f"aggregate{i}",
                                kind="aggregation", cores=1, estimate=d["aggregation"],
                                after=[sim[i, j] for j in range(sims)])
        train[i] = session.submit(time.sleep, d["training"], name=f"train{i}", kind="training",
                                  cores=0, gpus=1, estimate=d["training"],
                                  after=[agg[i]] + ([train[i - 1]] if i else []))
        inf[i] = session.submit(time.sleep, d["inference"], name=f"infer{i}", kind="inference",
                                cores=0, gpus=1, estimate=d["inference"], after=[train[i]])
    return [*sim.values(), *agg.values(), *train.values(), *inf.values()]


def lower_bound(iterations: int, sims: int, scale: float, cores: int = 2, gpus: int = 1
                ) -> float:
    """max(critical path, core work / cores, GPU work / GPUs), with the durations above."""
    d = {k: v * scale for k, v in DURATIONS.items()}
    # Longest path: chain of (sims of an iteration -> aggregation -> training -> inference ->
    # simulations two iterations later), computed by dynamic programming over the graph.
    finish: dict[tuple[str, int, int], float] = {}
    for i in range(iterations):
        for j in range(sims):
            start = max([finish[("sim", i - 1, j)]] if i else [0.0])
            if i >= 2:
                start = max(start, finish[("inf", i - 2, 0)])
            finish[("sim", i, j)] = start + d["simulation"]
        a = max(finish[("sim", i, j)] for j in range(sims)) + d["aggregation"]
        finish[("agg", i, 0)] = a
        t = max(a, finish.get(("train", i - 1, 0), 0.0)) + d["training"]
        finish[("train", i, 0)] = t
        finish[("inf", i, 0)] = t + d["inference"]
    critical = max(finish.values())
    core_work = iterations * (sims * d["simulation"] + d["aggregation"])
    gpu_work = iterations * (d["training"] + d["inference"])
    return max(critical, core_work / cores, gpu_work / gpus)


async def run_mode(mode: str, iterations: int, sims: int, scale: float, run_dir: str) -> float:
    async with tandem.open_session(platform(), run_dir=run_dir, mode=mode) as session:
        futures = submit_ddmd(session, iterations, sims, scale)
        await tandem.gather(*futures)
    records = [f.record for f in futures]
    start = min(r.submitted for r in records)
    return max(r.ended for r in records if r.ended is not None) - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--sims", type=int, default=8)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every duration")
    ap.add_argument("--run-dir", default=None, help="where runs go (default: a temp dir)")
    args = ap.parse_args()
    base = args.run_dir or tempfile.mkdtemp(prefix="tandem-ddmd-shape-")
    out = {}
    for mode in ("barrier", "async"):
        out[mode] = asyncio.run(run_mode(mode, args.iterations, args.sims, args.scale,
                                         f"{base}/{mode}"))
        print(f"{mode:>8}: makespan {out[mode]:6.2f} s   (trace: {base}/{mode}/trace.jsonl)")
    lb = lower_bound(args.iterations, args.sims, args.scale)
    improvement = 1 - out["async"] / out["barrier"]
    print(f"  improvement I = 1 - T_async/T_barrier = {improvement:.1%}; "
          f"lower bound {lb:.2f} s; async is {out['async'] / lb - 1:+.1%} above it")
    print(json.dumps({"barrier_s": round(out["barrier"], 3), "async_s": round(out["async"], 3),
                      "improvement": round(improvement, 4), "lower_bound_s": round(lb, 3)}))


if __name__ == "__main__":
    main()
