"""tandem's benchmarks: each number measured beside its baseline, interleaved, in the same run.

    python bench/run.py [--quick] [--repeats N] [--only NAME[,NAME]] [--out FILE]

Measurements (``--only`` takes these names): function, exec, random_dag, chain, core,
first_result, ddmd, rss, learned_dag, history_error. Prints one line per measurement and,
last, one JSON object with every number (``--out`` also writes it to FILE, with the raw
samples and the machine's load).

Interleaving: a measurement and its baseline run in turns, A, B, A, B, ... for N rounds (each
run a fresh session or pool), so a load that comes and goes on a shared machine falls on both;
each is reported as the median of its N runs, and its ratio as the median of the N per-round
ratios. Nothing here passes or fails on time; tests assert behaviour.

Run directories go to tmpfs (/dev/shm) when it exists: creating a task's directory and its two
output files costs milliseconds on some virtual disks, and the bare baselines create none.
The sessions' task history (``TANDEM_HISTORY``, unless set) is a scratch directory of the
invocation's, removed at its end: the benchmarks pay for the history as a user's sessions do,
and leave nothing in the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import itertools
import json
import os
import platform as host
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import dag  # noqa: E402  (bench/dag.py)
import procs  # noqa: E402  (bench/procs.py)
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
async def tandem_functions(n: int, trace: bool = True, journal: bool = True) -> float:
    run_dir = scratch()
    try:
        async with tandem.open_session(platform(), run_dir=run_dir, trace=trace,
                                       journal=journal) as s:
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



# -- learned estimates -----------------------------------------------------------------------
UNIT_S = 0.2
"""The learned-estimates DAG's unit of time (seconds)."""
LEARNED_DAG = (("prep", "analysis", 1.0), ("prep", "analysis", 1.0), ("prep", "analysis", 1.0),
               ("prep", "analysis", 1.0), ("prep", "analysis", 1.0),
               ("sim", "simulation", 1.0), ("train", "training", 3.0),
               ("infer", "inference", 1.0))
"""(set, kind, units) in submission order: five independent preps, then the chain sim ->
train -> infer. On 2 cores, submission order runs the preps first (7 units); the critical
path starts the chain first (5 units, the chain's length)."""


async def learned_dag(history: Path | bool, *, exact: bool, order: str = "critical_path"
                      ) -> float:
    """One run of :data:`LEARNED_DAG` as mock tasks (timers: the order is measured, not the
    CPU) on 1 node x 2 cores: first submission to last end, in seconds. ``exact``: each task
    carries its true duration as its estimate; else none, and the session learns them from
    ``history`` (``False``: none)."""
    run_dir = scratch()
    try:
        async with tandem.open_session(Platform.uniform(1, cores=2), run_dir=run_dir,
                                       history=history, order=order, journal=False) as s:
            futures: list[Any] = []
            counts: dict[str, int] = {}
            for name, kind, units in LEARNED_DAG:
                k = counts[name] = counts.get(name, -1) + 1
                spec = TaskSpec(name=f"{name}.{k}", kind=kind, work=tandem.Mock(
                    seconds=units * UNIT_S), estimate=units * UNIT_S if exact else None)
                after = [futures[-1]] if name in ("train", "infer") else []
                futures.append(s.submit_spec(spec, after=after))
            await s.wait_all()
            recs = [f.record for f in futures]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return max(r.ended for r in recs) - min(r.submitted for r in recs)


def nap(n: int) -> None:
    time.sleep(0.002 * n)


async def naps(history: Path, seed: int, count: int = 60) -> None:
    """``count`` function tasks that sleep 2 ms per unit of their feature ``n`` (1..50)."""
    import random

    rng = random.Random(seed)
    run_dir = scratch()
    try:
        async with tandem.open_session(platform(), run_dir=run_dir, history=history,
                                       journal=False) as s:
            for _ in range(count):
                n = rng.randint(1, 50)
                s.submit(nap, n, name="nap", features={"n": n})
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# -- the driver's memory -------------------------------------------------------------------
def driver_rss(tasks: int) -> dict[str, Any]:
    """bench/rss.py in a process of its own (no earlier benchmark's memory is counted)."""
    cmd = [sys.executable, str(HERE / "rss.py"), "--tasks", str(tasks), "--json"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the harness ---------------------------------------------------------------------------
def med(xs: list[float]) -> float:
    return statistics.median(xs)


def interleave(rounds: int, *runs: Callable[[], float]) -> list[list[float]]:
    """Run ``runs`` in turns (A, B, A, B, ...) for ``rounds`` rounds; each one's samples."""
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, xs in zip(runs, samples, strict=True):
            xs.append(run())
    return samples


def paired(xs: list[float], ys: list[float]) -> float:
    """The median of the per-round ratios x / y."""
    return med([x / y for x, y in zip(xs, ys, strict=True)])


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What one invocation asked for, and where its numbers go."""

    quick: bool
    reps: int
    out: dict[str, Any]
    samples: dict[str, Any]


def bench_function(r: Run) -> None:
    n = 5_000 if r.quick else 20_000
    # Tracing's cost is a few percent, under the machine's run-to-run noise: more rounds.
    rounds = 3 if r.quick else 7
    # Each of: trace and journal (the default), trace only, neither, the pool.
    fn, unjournaled, untraced, base = interleave(
        rounds,
        lambda: asyncio.run(tandem_functions(n)),
        lambda: asyncio.run(tandem_functions(n, journal=False)),
        lambda: asyncio.run(tandem_functions(n, trace=False, journal=False)),
        lambda: pool_functions(n))
    cost = med([1 - a / b for a, b in zip(unjournaled, untraced, strict=True)])
    jcost = med([1 - a / b for a, b in zip(fn, unjournaled, strict=True)])
    ratio = paired(fn, base)
    r.out.update(function_tasks_per_s=round(med(fn)), function_baseline_per_s=round(med(base)),
                 function_unjournaled_per_s=round(med(unjournaled)),
                 function_untraced_per_s=round(med(untraced)), tracing_cost=round(cost, 4),
                 journal_cost=round(jcost, 4), function_ratio=round(ratio, 3))
    r.samples["function"] = {"tasks": n, "traced_journaled_per_s": fn,
                             "traced_per_s": unjournaled, "untraced_per_s": untraced,
                             "pool_per_s": base}
    print(f"function tasks ({n:,} no-ops, {rounds} rounds): tandem {med(fn):,.0f}/s with trace "
          f"and journal, ProcessPoolExecutor(2) {med(base):,.0f}/s, ratio {ratio:.2f}; trace "
          f"only {med(unjournaled):,.0f}/s (the journal costs {jcost:.1%}); neither "
          f"{med(untraced):,.0f}/s (tracing costs {cost:.1%}; medians of the rounds)")


def bench_exec(r: Run) -> None:
    n = 200 if r.quick else 1_000
    ex, exb, exu = interleave(r.reps, lambda: asyncio.run(tandem_exec(n)),
                              lambda: procs.popen_pidfd_loop(n, 2),
                              lambda: procs.popen_pidfd_loop(n, 2, pin=False))
    ratio = paired(ex, exb)
    r.out.update(exec_tasks_per_s=round(med(ex)), exec_baseline_per_s=round(med(exb)),
                 exec_ratio=round(ratio, 3), exec_baseline_unpinned_per_s=round(med(exu)))
    r.samples["exec"] = {"tasks": n, "tandem_per_s": ex, "popen_pidfd_per_s": exb,
                         "popen_pidfd_unpinned_per_s": exu}
    print(f"/bin/true ({n:,}, {r.reps} rounds): tandem {med(ex):,.0f}/s, bare Popen + pidfd "
          f"loop (2 at a time, pinned) {med(exb):,.0f}/s, ratio {ratio:.2f}; the same loop "
          f"unpinned {med(exu):,.0f}/s")


def bench_random_dag(r: Run) -> None:
    g = dag.make_dag(2_000)
    ts, ps = interleave(r.reps, lambda: asyncio.run(dag.tandem_dag(g)), lambda: dag.pool_dag(g))
    ideal = dag.ideal_s(g)
    ratio = paired(ts, ps)
    r.out.update(random_dag_s=round(med(ts), 3), random_dag_baseline_s=round(med(ps), 3),
                 random_dag_ideal_s=round(ideal, 3), random_dag_ratio=round(ratio, 3))
    r.samples["random_dag"] = {"tasks": len(g), "edges": sum(map(len, g)),
                               "critical_path": dag.depth(g), "tandem_s": ts, "pool_s": ps}
    print(f"random DAG ({len(g):,} tasks of 1 ms, <= 3 deps each, critical path {dag.depth(g)}; "
          f"{r.reps} rounds): tandem {med(ts):.3f} s, ProcessPoolExecutor(2) from "
          f"done-callbacks {med(ps):.3f} s, ratio {ratio:.3f}; ideal {ideal:.2f} s")


def bench_chain(r: Run) -> None:
    hop, sched = asyncio.run(chain(200 if r.quick else 1_000))
    r.out.update(chain_hop_ms=round(hop, 3), chain_schedule_ms=round(sched, 3))
    print(f"chain of dependent no-ops: median hop {hop:.3f} ms "
          f"(end of one task to launch of the next {sched:.3f} ms)")


def bench_core(r: Run) -> None:
    n = 20_000 if r.quick else 50_000
    lc, lc1 = interleave(r.reps, lambda: core_lifecycles(n, burst=1_000),
                         lambda: core_lifecycles(n, burst=1))
    r.out.update(core_lifecycles_per_s=round(med(lc)),
                 core_lifecycles_one_event_per_s=round(med(lc1)))
    r.samples["core"] = {"tasks": n, "bursts_per_s": lc, "one_event_per_s": lc1}
    print(f"pure core: {med(lc):,.0f} task lifecycles/s (submit in bursts of 1,000, launch, "
          f"exit one by one; fake clock); {med(lc1):,.0f}/s handing every event alone")


def bench_first_result(r: Run) -> None:
    fr = [asyncio.run(first_result()) for _ in range(r.reps)]
    r.out["first_result_s"] = round(med(fr), 4)
    r.samples["first_result_s"] = fr
    print(f"open_session to first result: {med(fr):.3f} s")


def bench_ddmd(r: Run) -> None:
    from examples.ddmd_shape import lower_bound

    span = ddmd_shape("async")
    lb = lower_bound(4, 8, 1.0)
    r.out.update(ddmd_shape_makespan_s=round(span, 3), ddmd_shape_lower_bound_s=round(lb, 3),
                 ddmd_shape_list_schedule_s=19.3)
    print(f"DeepDriveMD shape (2 cores + 1 GPU): makespan {span:.2f} s; zero-overhead "
          f"critical-path list schedule 19.30 s; lower bound {lb:.2f} s")


def bench_learned_dag(r: Run) -> None:
    reps = max(r.reps, 5)
    histories: list[Path] = []

    def fresh() -> Path:
        histories.append(Path(scratch()))
        return histories[-1]

    def no_history() -> float:      # a fresh history: nothing to learn from (it records)
        return asyncio.run(learned_dag(fresh(), exact=False))

    def learned() -> float:         # the history of the run just before, alone
        return asyncio.run(learned_dag(histories[-1], exact=False))

    try:
        none, learnt, exact, fifo = interleave(
            reps, no_history, learned,
            lambda: asyncio.run(learned_dag(False, exact=True)),
            lambda: asyncio.run(learned_dag(False, exact=True, order="fifo")))
    finally:
        for h in histories:
            shutil.rmtree(h, ignore_errors=True)
    r.out.update(learned_dag_no_history_s=round(med(none), 3),
                 learned_dag_learned_s=round(med(learnt), 3),
                 learned_dag_exact_s=round(med(exact), 3),
                 learned_dag_submission_order_s=round(med(fifo), 3),
                 learned_dag_learned_over_exact=round(paired(learnt, exact), 4))
    r.samples["learned_dag"] = {"unit_s": UNIT_S, "no_history_s": none, "learned_s": learnt,
                                "exact_s": exact, "submission_order_s": fifo}
    print(f"learned estimates (8 mock tasks on 1 node x 2 cores, {reps} rounds): critical-path "
          f"order with exact estimates {med(exact):.3f} s, submission order {med(fifo):.3f} s "
          f"(order matters: {1 - med(exact) / med(fifo):.1%}); without estimates: empty "
          f"history {med(none):.3f} s, after one earlier run {med(learnt):.3f} s "
          f"(learned / exact {paired(learnt, exact):.3f}); ideal {5 * UNIT_S:.3f} s")


def bench_history_error(r: Run) -> None:
    from tandem.history.estimates import samples_of
    from tandem.history.model import fit, held_out_error
    from tandem.history.store import HistoryStore

    runs = 2 if r.quick else 4
    hist = Path(scratch())
    try:
        for seed in range(runs):
            asyncio.run(naps(hist, seed))
        store = HistoryStore(hist)
        (key,) = store.done_counts()
        samples = samples_of(store.samples(key))
        model = fit(samples)
        err = held_out_error(samples)
        flat = held_out_error(samples, "median")
    finally:
        shutil.rmtree(hist, ignore_errors=True)
    r.out.update(history_held_out_error=None if err is None else round(err, 4),
                 history_held_out_error_median_model=None if flat is None else round(flat, 4),
                 history_samples=len(samples), history_model=model.kind)
    print(f"duration model on held-out tasks ({len(samples)} sleeps of 2 ms x n, n given as a "
          f"feature, from {runs} runs): {model.kind} model median relative error "
          f"{err if err is None else f'{err:.1%}'}; a median per key instead "
          f"{flat if flat is None else f'{flat:.1%}'}")


def bench_rss(r: Run) -> None:
    n = 100_000 if r.quick else 1_000_000
    m = driver_rss(n)
    if n == 1_000_000:
        r.out["driver_rss_1m_tasks_mb"] = m["rss_end_mb"]
    r.out.update(driver_rss_mb=m["rss_end_mb"], driver_rss_tasks=n,
                 driver_rss_peak_mb=m["hwm_mb"], driver_rss_before_mb=m["rss_before_mb"],
                 driver_rss_bytes_per_task=m["bytes_per_task"])
    r.samples["rss"] = m
    print(f"driver RSS after {n:,} no-op {m['kind']} tasks (futures dropped batch by batch, "
          f"{m['tasks_per_s']:,}/s): {m['rss_end_mb']} MiB (before the session "
          f"{m['rss_before_mb']}, peak {m['hwm_mb']}; {m['bytes_per_task']} bytes per "
          f"finished task)")


BENCHES: dict[str, Callable[[Run], None]] = {
    "function": bench_function, "exec": bench_exec, "random_dag": bench_random_dag,
    "chain": bench_chain, "core": bench_core, "first_result": bench_first_result,
    "ddmd": bench_ddmd, "rss": bench_rss, "learned_dag": bench_learned_dag,
    "history_error": bench_history_error,
}


def options(doc: str, benches: Sequence[str]) -> tuple[argparse.Namespace, list[str], Run]:
    """The command line every bench script takes (--quick, --repeats, --only, --out): the
    arguments, the measurements chosen, and an empty :class:`Run` for them."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer tasks and rounds")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of each interleaved pair")
    ap.add_argument("--only", default="", metavar="NAME[,NAME]",
                    help=f"run only these ({', '.join(benches)})")
    ap.add_argument("--out", default=None, metavar="FILE",
                    help="also write the JSON, with raw samples and the machine's load, here")
    args = ap.parse_args()
    names = [x.strip() for x in args.only.split(",") if x.strip()] or list(benches)
    unknown = [x for x in names if x not in benches]
    if unknown:
        ap.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(benches)})")
    if args.repeats < 1:
        ap.error(f"--repeats: must be >= 1, got {args.repeats}")
    return args, names, Run(quick=args.quick, reps=1 if args.quick else args.repeats, out={},
                            samples={})


def write_results(path: str | None, r: Run, t0: float, load0: tuple[float, float, float],
                  **machine: Any) -> None:
    """Print the numbers as one JSON object and, with ``path``, write them with the raw
    samples, the commit and the machine's load (``machine`` adds to what is said of it)."""
    print(json.dumps(r.out))
    if not path:
        return
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    doc = {"results": r.out, "samples": r.samples, "machine": {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t0)),
        "seconds": round(time.time() - t0, 1), "commit": commit,
        "tandem_from": str(Path(tandem.__file__).parent),
        "python": host.python_version(), "cpus": os.cpu_count(), **machine,
        "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }, "argv": sys.argv[1:]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def run_benches(doc: str, benches: Mapping[str, Callable[[Run], None]],
                **machine: Any) -> None:
    """A bench script's main: the measurements its command line chose, in order, then the
    JSON (``machine`` adds to what is said of the machine)."""
    args, names, r = options(doc, list(benches))
    load0 = os.getloadavg()
    t0 = time.time()
    own = None
    if "TANDEM_HISTORY" not in os.environ:
        own = os.environ["TANDEM_HISTORY"] = scratch()
    try:
        for name in names:
            benches[name](r)
    finally:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)
    write_results(args.out, r, t0, load0, **machine)


def main() -> None:
    run_benches(__doc__ or "", BENCHES, affinity=len(os.sched_getaffinity(0)))


if __name__ == "__main__":
    main()
