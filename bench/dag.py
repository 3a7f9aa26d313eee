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
and cumulative time (and writes the raw stats to FILE if given). ``--gaps`` runs each side once
with a task that returns its worker's pid and its start and end on ``time.monotonic`` (one clock
for every process of the machine, and the session's clock), and prints how long each worker sat
idle between the end of one task and the start of its next; for tandem it splits that gap at
the driver's ``record.ended`` (the core handled the exit) and ``record.launched``/``started``
(the next call was written to the worker).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tandem  # noqa: E402
from tandem import Platform  # noqa: E402

TASK_S = 0.001
Dag = list[tuple[int, ...]]


def sleep_1ms() -> None:
    time.sleep(TASK_S)


def timed_1ms() -> tuple[int, float, float]:
    t0 = time.monotonic()
    time.sleep(TASK_S)
    return os.getpid(), t0, time.monotonic()


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


Stamp = tuple[int, float, float]   # (worker pid, start, end) on time.monotonic


async def tandem_stamps(dag: Dag) -> tuple[list[Stamp], dict[int, float], dict[int, float]]:
    """The tasks' stamps, and, on the driver's clock, when the driver began reading each task's
    result and when the call of each task was written to its worker (``WorkerHandle.read`` and
    ``send`` wrapped for this run)."""
    from tandem.backends.worker_handle import WorkerHandle

    read_at: dict[int, float] = {}
    sent_at: dict[int, float] = {}
    read, send = WorkerHandle.read, WorkerHandle.send

    def timed_read(w: WorkerHandle) -> Any:
        t = time.monotonic()
        if w.task_id is not None:
            read_at.setdefault(w.task_id, t)
        return read(w)

    def timed_send(w: WorkerHandle, data: bytes) -> None:
        send(w, data)
        if w.task_id is not None:
            sent_at[w.task_id] = time.monotonic()

    WorkerHandle.read, WorkerHandle.send = timed_read, timed_send  # type: ignore[method-assign]
    run_dir = scratch()
    try:
        async with tandem.open_session(Platform.local(), run_dir=run_dir) as s:
            await s.submit(timed_1ms)
            futures: list[tandem.TaskFuture] = []
            for deps in dag:
                futures.append(s.submit(timed_1ms, after=[futures[d] for d in deps]))
            await s.wait_all()
            ids = {f.task_id: i for i, f in enumerate(futures)}
            return ([f.result() for f in futures],
                    {ids[t]: x for t, x in read_at.items() if t in ids},
                    {ids[t]: x for t, x in sent_at.items() if t in ids})
    finally:
        WorkerHandle.read, WorkerHandle.send = read, send  # type: ignore[method-assign]
        shutil.rmtree(run_dir, ignore_errors=True)


def pool_stamps(dag: Dag, in_flight: int | None = None) -> list[Stamp]:
    """As :func:`pool_dag`, with :func:`timed_1ms`; the stamps in submission order. With
    ``in_flight``, at most that many calls are submitted and unfinished at once (2: the pool
    cannot queue a worker's next call before its current one ends, as tandem does not)."""
    from collections import deque

    waiting = [len(deps) for deps in dag]
    dependents: list[list[int]] = [[] for _ in dag]
    for i, deps in enumerate(dag):
        for d in deps:
            dependents[d].append(i)
    lock = threading.Lock()
    finished = threading.Event()
    stamps: dict[int, Stamp] = {}
    ready: deque[int] = deque(i for i, deps in enumerate(dag) if not deps)
    limit = in_flight or len(dag)
    running = 0
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        for f in [pool.submit(timed_1ms) for _ in range(2)]:
            f.result()

        def submit(i: int) -> None:
            pool.submit(timed_1ms).add_done_callback(lambda f: ended(i, f))

        def take() -> list[int]:   # under the lock
            nonlocal running
            out = []
            while ready and running < limit:
                out.append(ready.popleft())
                running += 1
            return out

        def ended(i: int, f: concurrent.futures.Future[Stamp]) -> None:
            nonlocal running
            with lock:
                stamps[i] = f.result()
                running -= 1
                for j in dependents[i]:
                    waiting[j] -= 1
                    if waiting[j] == 0:
                        ready.append(j)
                if len(stamps) == len(dag):
                    finished.set()
                go = take()
            for j in go:
                submit(j)

        with lock:
            go = take()
        for i in go:
            submit(i)
        finished.wait()
    return [stamps[i] for i in range(len(dag))]


def idle_gaps(stamps: list[Stamp]) -> dict[int, list[tuple[int, int, float]]]:
    """Per worker pid, (task, next task, seconds idle between them), in order of start."""
    by_pid: dict[int, list[int]] = {}
    for i, (pid, _, _) in enumerate(stamps):
        by_pid.setdefault(pid, []).append(i)
    out: dict[int, list[tuple[int, int, float]]] = {}
    for pid, ids in by_pid.items():
        ids.sort(key=lambda i: stamps[i][1])
        out[pid] = [(a, b, stamps[b][1] - stamps[a][2]) for a, b in itertools.pairwise(ids)]
    return out


def us(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1e6:6.1f} us, mean {statistics.fmean(xs) * 1e6:6.1f}"
            f" us, p90 {xs[int(0.9 * (len(xs) - 1))] * 1e6:6.1f} us")


def gaps(dag: Dag) -> None:
    stamps, read_at, sent_at = asyncio.run(tandem_stamps(dag))
    runs = (("tandem", stamps), ("pool", pool_stamps(dag)),
            ("pool, 2 in flight", pool_stamps(dag, in_flight=2)))
    for label, st in runs:
        g = idle_gaps(st)
        allg = [x for v in g.values() for _, _, x in v]
        busy = [e - s for _, s, e in st]
        span = max(e for _, _, e in st) - min(s for _, s, _ in st)
        print(f"{label:17}: makespan {span:.3f} s; task body {us(busy)}; "
              f"worker idle between tasks {us(allg)}, {sum(allg):.3f} s in all "
              f"over {len(g)} workers")
    # tandem: split each gap where the driver read the result and wrote the next call
    wake, path, start = [], [], []
    for v in idle_gaps(stamps).values():
        for a, b, _ in v:
            if a in read_at and b in sent_at and read_at[a] <= sent_at[b]:
                wake.append(read_at[a] - stamps[a][2])
                path.append(sent_at[b] - read_at[a])
                start.append(stamps[b][1] - sent_at[b])
    print(f"tandem, the {len(path)} gaps split on the driver's clock:")
    print(f"  task returns in the worker -> driver starts reading it  {us(wake)}")
    print(f"  driver reads the result -> next call written           {us(path)}")
    print(f"  next call written -> next task starts in the worker    {us(start)}")


# The driver's exit -> next-launch path, function by function (names of today's runtime; one
# that is gone is skipped). Each is wrapped with a perf_counter timer (about 0.3 us each).
PATH = (
    ("tandem.backends.functions", "FunctionBackend", "_on_readable"),
    ("tandem.backends.worker_handle", "WorkerHandle", "read"),
    ("tandem.backends.functions", "FunctionBackend", "_on_frame"),
    ("tandem.runtime.session", "Session", "exited"),
    ("tandem.runtime.session", "Session", "_pump"),
    ("tandem.core.scheduler", "Scheduler", "handle"),
    ("tandem.core.scheduler", "Scheduler", "handle_many"),
    ("tandem.runtime.session", "Session", "_launch"),
    ("tandem.backends.functions", "FunctionBackend", "launch"),
    ("tandem.backends.worker_handle", "WorkerHandle", "send"),
    ("tandem.runtime.session", "Session", "_resolve"),
    ("tandem.runtime.future", "TaskFuture", "_resolve"),
    ("tandem.runtime.session", "Session", "started"),
    ("tandem.runtime.session", "Session", "_end_step"),
    # the runtime as it is being reworked: a Driver under the Session
    ("tandem.runtime.driver", "Driver", "exited"),
    ("tandem.runtime.driver", "Driver", "_pump"),
    ("tandem.runtime.driver", "Driver", "_launch"),
    ("tandem.runtime.driver", "Driver", "_resolve"),
    ("tandem.runtime.driver", "Driver", "_forget"),
    ("tandem.runtime.driver", "Driver", "started"),
    ("tandem.runtime.driver", "Driver", "_end_step"),
)


def split(dag: Dag) -> None:
    """Inclusive time per call of each function on the driver's path (see PATH)."""
    import importlib

    times: dict[str, list[float]] = {}
    undo: list[tuple[type, str, Any]] = []

    def wrap(cls: type, name: str) -> None:
        orig = cls.__dict__[name]
        label = f"{cls.__name__}.{name}"
        clock = time.perf_counter
        by_event = name == "handle"   # the core's handle: one line per event type

        def timed(*a: Any, **k: Any) -> Any:
            t = clock()
            try:
                return orig(*a, **k)
            finally:
                key = f"{label}({type(a[1]).__name__})" if by_event else label
                times.setdefault(key, []).append(clock() - t)
        setattr(cls, name, timed)
        undo.append((cls, name, orig))

    for mod, cls_name, name in PATH:
        try:
            cls = getattr(importlib.import_module(mod), cls_name, None)
        except ImportError:
            continue
        if cls is not None and name in cls.__dict__:
            wrap(cls, name)
    try:
        dt = asyncio.run(tandem_dag(dag))
    finally:
        for cls, name, orig in undo:
            setattr(cls, name, orig)
    print(f"tandem with timers on its driver path: {dt:.3f} s")
    for key, xs in times.items():
        if xs:
            print(f"  {key:32} {len(xs):6} calls, {us(xs)}, {sum(xs) * 1e3:7.1f} ms in all")


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
    ap.add_argument("--gaps", action="store_true", help="where the time between tasks goes")
    ap.add_argument("--split", action="store_true",
                    help="time per call of each function on the driver's exit -> launch path")
    args = ap.parse_args()
    dag = make_dag(args.tasks, seed=args.seed)
    print(f"{len(dag):,} tasks, {sum(map(len, dag)):,} edges, critical path {depth(dag)} tasks; "
          f"ideal {ideal_s(dag):.3f} s on 2 workers")
    if args.profile is not None:
        profile(dag, args.profile or None)
        return
    if args.gaps:
        gaps(dag)
        return
    if args.split:
        split(dag)
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
