"""A random DAG of short tasks, through tandem and through a bare ``ProcessPoolExecutor(2)``.

    python bench/dag.py [--tasks 2000] [--seed 11] [--repeats 3] [--profile [FILE]]

The DAG: ``tasks`` tasks of ``time.sleep(0.001)``; task ``i`` depends on up to 3 distinct
earlier tasks (how many and which drawn from ``random.Random(seed)``). The work is a sleep on
purpose: what is measured is the time between one task's end and the launch of the tasks it
frees, i.e. scheduling overhead. Ideal makespan on 2 workers: ``max(tasks x 1 ms / 2, critical
path x 1 ms)`` = 1.00 s for 2,000 tasks.

- tandem: every task is submitted at once, its dependencies given with ``after=``; timed from
  the first ``submit`` to the end of ``wait_all``.
- baseline: ``ProcessPoolExecutor(2)``, workers warmed; a task is submitted from the
  done-callback of its last unfinished dependency (the callbacks run on the pool's manager
  thread); timed from the first ``submit`` to the last task's result.

``--profile`` runs the tandem side once under cProfile and prints the top functions by internal
and cumulative time (and writes the raw stats to FILE if given).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tandem  # noqa: E402
from tandem import Platform  # noqa: E402

TASK_S = 0.001
Dag = list[tuple[int, ...]]


def sleep_1ms() -> None:
    time.sleep(TASK_S)


def make_dag(n: int = 2_000, max_deps: int = 3, seed: int = 11) -> Dag:
    """Task ``i``'s dependencies: 0..max_deps distinct earlier tasks, from a seeded RNG."""
    rng = random.Random(seed)
    return [tuple(sorted(rng.sample(range(i), rng.randint(0, min(max_deps, i)))))
            for i in range(n)]


def depth(dag: Dag) -> int:
    """The critical path, in tasks."""
    level: list[int] = []
    for deps in dag:
        level.append(1 + max((level[d] for d in deps), default=0))
    return max(level, default=0)


def ideal_s(dag: Dag, workers: int = 2) -> float:
    return max(len(dag) * TASK_S / workers, depth(dag) * TASK_S)


def scratch() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="tandem-bench-", dir=base)


async def tandem_dag(dag: Dag, trace: bool = True) -> float:
    """Seconds for tandem to run ``dag`` (workers warm, trace on as by default)."""
    run_dir = scratch()
    try:
        async with tandem.open_session(Platform.local(), run_dir=run_dir, trace=trace) as s:
            await s.submit(sleep_1ms)   # workers warm, as for the pool
            t0 = time.perf_counter()
            futures: list[tandem.TaskFuture] = []
            for deps in dag:
                futures.append(s.submit(sleep_1ms, after=[futures[d] for d in deps]))
            await s.wait_all()
            dt = time.perf_counter() - t0
            assert all(f.done() and f.exception() is None for f in futures)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return dt


def pool_dag(dag: Dag, workers: int = 2) -> float:
    """Seconds for a bare ProcessPoolExecutor driven from done-callbacks to run ``dag``."""
    n = len(dag)
    waiting = [len(deps) for deps in dag]
    dependents: list[list[int]] = [[] for _ in dag]
    for i, deps in enumerate(dag):
        for d in deps:
            dependents[d].append(i)
    lock = threading.Lock()
    finished = threading.Event()
    errors: list[BaseException] = []
    done = 0

    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        for f in [pool.submit(sleep_1ms) for _ in range(workers)]:
            f.result()

        def submit(i: int) -> None:
            pool.submit(sleep_1ms).add_done_callback(lambda f: ended(i, f))

        def ended(i: int, f: concurrent.futures.Future[None]) -> None:
            nonlocal done
            if f.exception() is not None:
                errors.append(f.exception())  # type: ignore[arg-type]
                finished.set()
                return
            freed = []
            with lock:
                done += 1
                for j in dependents[i]:
                    waiting[j] -= 1
                    if waiting[j] == 0:
                        freed.append(j)
                if done == n:
                    finished.set()
            for j in freed:
                submit(j)

        t0 = time.perf_counter()
        for i in [i for i, deps in enumerate(dag) if not deps]:
            submit(i)
        finished.wait()
        dt = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return dt


def profile(dag: Dag, out: str | None) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    dt = asyncio.run(tandem_dag(dag))
    prof.disable()
    print(f"tandem (under cProfile): {dt:.3f} s for {len(dag):,} tasks")
    if out:
        prof.dump_stats(out)
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", nargs="?", const="", default=None, metavar="FILE")
    args = ap.parse_args()
    dag = make_dag(args.tasks, seed=args.seed)
    print(f"{len(dag):,} tasks, {sum(map(len, dag)):,} edges, critical path {depth(dag)} tasks; "
          f"ideal {ideal_s(dag):.3f} s on 2 workers")
    if args.profile is not None:
        profile(dag, args.profile or None)
        return
    ts, ps = [], []
    for _ in range(args.repeats):
        ts.append(asyncio.run(tandem_dag(dag)))
        ps.append(pool_dag(dag))
    ratio = statistics.median(t / p for t, p in zip(ts, ps, strict=True))
    print(f"tandem {statistics.median(ts):.3f} s, ProcessPoolExecutor(2) from done-callbacks "
          f"{statistics.median(ps):.3f} s, ratio {ratio:.3f} (tandem / pool, median of pairs)")
    print(f"tandem {[round(t, 3) for t in ts]}, pool {[round(p, 3) for p in ps]}")


if __name__ == "__main__":
    main()
