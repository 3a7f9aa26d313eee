"""tandem's benchmarks: each number printed beside its baseline measured in the same run.

    python bench/run.py [--quick]

Prints one line per measurement and, last, one JSON object with every number. Machines are
noisy: throughput numbers are medians over repeats, interleaved with their baselines. Nothing
here passes or fails on time; tests assert behaviour.

Run directories go to tmpfs (/dev/shm) when it exists: creating a task's directory and its two
output files costs milliseconds on some virtual disks, and the bare baselines create none.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tandem  # noqa: E402
from tandem import Platform  # noqa: E402
from tandem.core.actions import Launch  # noqa: E402
from tandem.core.events import Exited, Submitted  # noqa: E402
from tandem.core.scheduler import Scheduler  # noqa: E402
from tandem.spec import FunctionCall, Resources, TaskSpec  # noqa: E402


def noop() -> None:
    return None


def noop_arg(x: Any) -> Any:
    return x


def scratch() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="tandem-bench-", dir=base)


def platform() -> Platform:
    return Platform.local()


# -- function tasks ------------------------------------------------------------------------
async def tandem_functions(n: int, trace: bool = True) -> float:
    run_dir = scratch()
    try:
        async with tandem.open_session(platform(), run_dir=run_dir, trace=trace) as s:
            await s.submit(noop)   # workers warm, as for the pool baseline
            t0 = time.perf_counter()
            futures = [s.submit(noop) for _ in range(n)]
            await s.wait_all()
            dt = time.perf_counter() - t0
            assert all(f.done() and f.exception() is None for f in futures)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return n / dt


def pool_functions(n: int) -> float:
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        pool.submit(noop).result()
        pool.submit(noop).result()
        t0 = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(n)]
        for f in futures:
            f.result()
        return n / (time.perf_counter() - t0)


# -- executables ---------------------------------------------------------------------------
async def tandem_exec(n: int) -> float:
    run_dir = scratch()
    try:
        async with tandem.open_session(platform(), run_dir=run_dir) as s:
            t0 = time.perf_counter()
            for _ in range(n):
                s.execute(["/bin/true"])
            await s.wait_all()
            return n / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


async def bare_exec(n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            p = await asyncio.create_subprocess_exec("/bin/true")
            await p.wait()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0)


# -- latency -------------------------------------------------------------------------------
async def chain(n: int) -> tuple[float, float]:
    run_dir = scratch()
    try:
        async with tandem.open_session(platform(), run_dir=run_dir) as s:
            await s.submit(noop)
            futures = [s.submit(noop_arg, 0)]
            for _ in range(n - 1):
                futures.append(s.submit(noop_arg, futures[-1]))
            await futures[-1]
            recs = [f.record for f in futures]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    hops = [b.ended - a.ended for a, b in itertools.pairwise(recs)]  # type: ignore[operator]
    sched = [b.launched - a.ended for a, b in itertools.pairwise(recs)]  # type: ignore[operator]
    return statistics.median(hops) * 1e3, statistics.median(sched) * 1e3


async def first_result() -> float:
    run_dir = scratch()
    try:
        t0 = time.perf_counter()
        async with tandem.open_session(platform(), run_dir=run_dir) as s:
            await s.submit(noop)
            dt = time.perf_counter() - t0
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return dt


# -- the pure core -------------------------------------------------------------------------
def core_lifecycles(n: int, cores: int = 2, burst: int = 1) -> float:
    """Submit ``n`` one-core tasks (``burst`` per ``handle_many`` call, as the session hands
    the core everything submitted in one loop iteration), then end them one exit at a time;
    each exit launches the next task. Specs are built before the clock starts."""
    core = Scheduler(Platform.uniform(1, cores=cores))
    work = FunctionCall(fn=noop)
    res = Resources(cores=1)
    specs = [TaskSpec(name="t", work=work, resources=res) for _ in range(n)]
    handle, handle_many = core.handle, core.handle_many
    running: list[int] = []
    gc.collect()   # the previous run's garbage is not this run's cost (the collector stays on)
    t0 = time.perf_counter()
    now = 0.0
    for start in range(0, n, burst):
        events = [Submitted(task_id=i, spec=specs[i]) for i in range(start, min(n, start + burst))]
        actions = handle(events[0], now) if burst == 1 else handle_many(events, now)
        running.extend(a.task_id for a in actions)   # type: ignore[union-attr]
    while running:
        now += 1e-6
        for a in handle(Exited(running.pop()), now):
            if type(a) is Launch:
                running.append(a.task_id)
    dt = time.perf_counter() - t0
    assert core.unfinished == 0
    return n / dt


# -- the DeepDriveMD shape -----------------------------------------------------------------
def ddmd_shape(mode: str) -> float:
    from examples.ddmd_shape import run_mode

    run_dir = scratch()
    try:
        return asyncio.run(run_mode(mode, 4, 8, 1.0, run_dir))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer tasks and repeats")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    reps = 1 if args.quick else args.repeats
    n_fn = 5_000 if args.quick else 20_000
    n_exec = 200 if args.quick else 1_000
    out: dict[str, Any] = {}

    fn, base, untraced = [], [], []
    for _ in range(reps):
        base.append(pool_functions(n_fn))
    # Tracing's cost is a few percent, under the machine's run-to-run noise: traced and
    # untraced runs alternate, and the cost is the median of the pairs' ratios.
    for _ in range(3 if args.quick else 7):
        fn.append(asyncio.run(tandem_functions(n_fn)))
        untraced.append(asyncio.run(tandem_functions(n_fn, trace=False)))
    cost = med([1 - a / b for a, b in zip(fn, untraced, strict=True)])
    out["function_tasks_per_s"] = round(med(fn))
    out["function_baseline_per_s"] = round(med(base))
    out["function_untraced_per_s"] = round(med(untraced))
    out["tracing_cost"] = round(cost, 4)
    print(f"function tasks ({n_fn:,} no-ops): tandem {med(fn):,.0f}/s, "
          f"ProcessPoolExecutor(2) {med(base):,.0f}/s, ratio {med(fn) / med(base):.2f}; "
          f"without the trace {med(untraced):,.0f}/s (tracing costs {cost:.1%}, median of "
          f"{len(fn)} interleaved pairs)")

    ex, exb = [], []
    for _ in range(reps):
        exb.append(asyncio.run(bare_exec(n_exec, 2)))
        ex.append(asyncio.run(tandem_exec(n_exec)))
    out["exec_tasks_per_s"] = round(med(ex))
    out["exec_baseline_per_s"] = round(med(exb))
    print(f"/bin/true ({n_exec:,}): tandem {med(ex):,.0f}/s, bare asyncio loop (2 at a time) "
          f"{med(exb):,.0f}/s, ratio {med(ex) / med(exb):.2f}")

    hop, sched = asyncio.run(chain(200 if args.quick else 1_000))
    out["chain_hop_ms"] = round(hop, 3)
    out["chain_schedule_ms"] = round(sched, 3)
    print(f"chain of dependent no-ops: median hop {hop:.3f} ms "
          f"(end of one task to launch of the next {sched:.3f} ms)")

    n_core = 50_000 if not args.quick else 20_000
    lc = [core_lifecycles(n_core, burst=1_000) for _ in range(reps)]
    lc1 = [core_lifecycles(n_core, burst=1) for _ in range(reps)]
    out["core_lifecycles_per_s"] = round(med(lc))
    out["core_lifecycles_one_event_per_s"] = round(med(lc1))
    print(f"pure core: {med(lc):,.0f} task lifecycles/s (submit in bursts of 1,000, launch, "
          f"exit one by one; fake clock); {med(lc1):,.0f}/s handing every event alone")

    fr = [asyncio.run(first_result()) for _ in range(reps)]
    out["first_result_s"] = round(med(fr), 4)
    print(f"open_session to first result: {med(fr):.3f} s")

    from examples.ddmd_shape import lower_bound

    span = ddmd_shape("async")
    lb = lower_bound(4, 8, 1.0)
    out["ddmd_shape_makespan_s"] = round(span, 3)
    out["ddmd_shape_lower_bound_s"] = round(lb, 3)
    out["ddmd_shape_list_schedule_s"] = 19.3
    print(f"DeepDriveMD shape (2 cores + 1 GPU): makespan {span:.2f} s; zero-overhead "
          f"critical-path list schedule 19.30 s; lower bound {lb:.2f} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
