"""The journal (tandem.journal): what keeping one costs, and how fast a resumed run skips what
an earlier run finished.

    python bench/journal.py [--quick] [--repeats N] [--only NAME[,NAME]] [--out FILE]

- ``cost``: 20,000 no-op function tasks with the journal on and off (the trace on in both),
  interleaved pairs; the cost is the median of the per-round ``1 - on/off``.
- ``resume``: a campaign of 100,000 function tasks (``f(i)``, distinct arguments) run once,
  then resumed: every task is restored. Per round, the fresh run's time (it runs them all) and
  the resumed run's, both from ``open_session`` to the block's end; the figure to watch is the
  resumed run's (the goal: under 2 s), beside opening a session without a journal and making
  the same 100,000 submissions (timed to the last submission; they are then cancelled): what
  a resume cannot go below.
- ``kill``: time from a SIGKILL of a driver running executables that forked to the last of
  its processes gone (bench/guardian.py measures it beside the unguarded baseline).
Medians of N rounds; nothing passes or fails on time.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (bench/run.py)
import tandem  # noqa: E402


def ident(i: int) -> int:
    return i


async def campaign(run_dir: str, n: int, *, resume: bool) -> float:
    t0 = time.perf_counter()
    async with tandem.open_session(bench.platform(), run_dir=run_dir, resume=resume) as s:
        futures = [s.submit(ident, i) for i in range(n)]
        await s.wait_all()
    dt = time.perf_counter() - t0
    assert all(f.result() == i for i, f in enumerate(futures[:1000]))
    return dt


async def submit_only(n: int) -> float:
    """Opening a session without a journal and making the same submissions (then cancelled,
    untimed): what a resume cannot go below."""
    run_dir = bench.scratch()
    try:
        t0 = time.perf_counter()
        async with tandem.open_session(bench.platform(), run_dir=run_dir, journal=False) as s:
            futures = [s.submit(ident, i) for i in range(n)]
            dt = time.perf_counter() - t0          # opening and submitting, not cancelling
            s.cancel(futures, "benchmark: submissions only")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return dt


def bench_cost(r: bench.Run) -> None:
    n = 5_000 if r.quick else 20_000
    rounds = 3 if r.quick else 7
    on, off = bench.interleave(rounds,
                               lambda: asyncio.run(bench.tandem_functions(n)),
                               lambda: asyncio.run(bench.tandem_functions(n, journal=False)))
    cost = bench.med([1 - a / b for a, b in zip(on, off, strict=True)])
    r.out.update(journal_on_per_s=round(bench.med(on)), journal_off_per_s=round(bench.med(off)),
                 journal_cost=round(cost, 4))
    r.samples["cost"] = {"tasks": n, "on_per_s": on, "off_per_s": off}
    print(f"journal cost ({n:,} no-op functions, {rounds} rounds): {bench.med(on):,.0f}/s with "
          f"the journal, {bench.med(off):,.0f}/s without: it costs {cost:.1%} (median of the "
          "per-round ratios)")


def bench_resume(r: bench.Run) -> None:
    n = 20_000 if r.quick else 100_000
    fresh: list[float] = []
    resumed: list[float] = []
    floor: list[float] = []
    for _ in range(r.reps):
        run_dir = bench.scratch()
        try:
            fresh.append(asyncio.run(campaign(run_dir, n, resume=False)))
            resumed.append(asyncio.run(campaign(run_dir, n, resume=True)))
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        floor.append(asyncio.run(submit_only(n)))
    r.out.update(resume_tasks=n, resume_s=round(bench.med(resumed), 3),
                 fresh_run_s=round(bench.med(fresh), 3),
                 submit_only_s=round(bench.med(floor), 3),
                 resume_vs_submit_only=round(bench.paired(resumed, floor), 3))
    r.samples["resume"] = {"tasks": n, "fresh_s": fresh, "resumed_s": resumed,
                           "submit_only_s": floor}
    print(f"resume ({n:,} tasks, {r.reps} rounds): {bench.med(resumed):.2f} s to skip them all "
          f"(the fresh run: {bench.med(fresh):.2f} s; opening a session without a journal and "
          f"submitting them: {bench.med(floor):.2f} s, ratio {bench.paired(resumed, floor):.2f})")


def bench_kill(r: bench.Run) -> None:
    import guardian as g  # bench/guardian.py

    gone = [g.killed_driver(True)[0] for _ in range(r.reps)]
    r.out.update(kill_to_last_gone_s=round(bench.med(gone), 3))
    r.samples["kill"] = {"gone_s": gone}
    print(f"kill -9 of a driver with forking executables: the last process gone "
          f"{bench.med(gone):.3f} s after (median of {r.reps})")


BENCHES = {"cost": bench_cost, "resume": bench_resume, "kill": bench_kill}


def main() -> None:
    bench.run_benches(__doc__ or "", BENCHES)


if __name__ == "__main__":
    main()
