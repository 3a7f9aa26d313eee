"""The walltime (tandem.core.walltime, tandem.sim.walltime): what it costs the core, and how
fast a prediction of successive allocations is.

    python bench/walltime.py [--quick] [--repeats N] [--only core,predict] [--out FILE]

- ``core``: bench/run.py's core loop (one-core tasks submitted in bursts of 1,000, then ended
  one exit at a time) with every task estimated at 1 s, without a walltime and with one whose
  end is far (every launch is checked, none deferred), interleaved; and the same loop under a
  walltime that defers half the tasks (each deferral is a steering action).
- ``predict``: ``predict_walltime`` of 20,000 tasks (normal durations, mean 10 s) on 64 cores
  in allocations that hold about a quarter of the work, beside one plain simulation of the
  same tasks (the baseline: each allocation simulates what is left).
Medians of N rounds; ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench/run.py)
from tandem.core.actions import Launch  # noqa: E402
from tandem.core.events import Exited, Submitted  # noqa: E402
from tandem.core.scheduler import Scheduler  # noqa: E402
from tandem.core.values import Walltime  # noqa: E402
from tandem.sim import predict  # noqa: E402
from tandem.sim.walltime import predict_walltime  # noqa: E402
from tandem.spec import FunctionCall, Platform, Resources, TaskSpec  # noqa: E402
from tandem.spec.workflow import Duration, TaskSet, Workflow  # noqa: E402


def lifecycles(n: int, wall: Walltime | None, burst: int = 1_000) -> float:
    """bench/run.py's ``core_lifecycles`` with an estimate on every task and ``wall``; tasks
    the walltime ends count as lifecycles too."""
    core = Scheduler(Platform.uniform(1, cores=2), walltime=wall)
    work = FunctionCall(fn=run.noop)
    res = Resources(cores=1)
    specs = [TaskSpec(name="t", work=work, resources=res, estimate=1.0) for _ in range(n)]
    handle, handle_many = core.handle, core.handle_many
    running: list[int] = []
    gc.collect()
    t0 = time.perf_counter()
    now = 0.0
    for start in range(0, n, burst):
        events = [Submitted(task_id=i, spec=specs[i]) for i in range(start, min(n, start + burst))]
        running.extend(a.task_id for a in handle_many(events, now) if type(a) is Launch)
    while running:
        now += 1.0
        for a in handle(Exited(running.pop()), now):
            if type(a) is Launch:
                running.append(a.task_id)
    dt = time.perf_counter() - t0
    assert core.unfinished == 0
    return n / dt


def bench_core(r: run.Run) -> None:
    n = 20_000 if r.quick else 200_000
    far = Walltime(ends_at=1e12, margin=0.0, grace=0.0)
    half = Walltime(ends_at=n / 4 + 1.0, margin=0.0, grace=0.0)   # 2 cores, 1 s each: n/2 fit
    plain, walled, deferring = run.interleave(
        r.reps, lambda: lifecycles(n, None), lambda: lifecycles(n, far),
        lambda: lifecycles(n, half))
    r.out.update(core_estimated_per_s=round(run.med(plain)),
                 core_walltime_per_s=round(run.med(walled)),
                 core_walltime_ratio=round(run.paired(walled, plain), 3),
                 core_half_deferred_per_s=round(run.med(deferring)))
    r.samples["core"] = {"plain": plain, "walltime": walled, "half_deferred": deferring}
    print(f"core: {run.med(plain):,.0f} lifecycles/s without a walltime, "
          f"{run.med(walled):,.0f}/s with one that defers nothing "
          f"({run.paired(walled, plain):.3f}x), {run.med(deferring):,.0f}/s when half are "
          f"deferred ({n:,} tasks)")


def bench_predict(r: run.Run) -> None:
    n = 2_000 if r.quick else 20_000
    wf = Workflow(name="w", platform=Platform.uniform(1, cores=64), task_sets=(
        TaskSet(name="sim", count=n, duration=Duration(mean=10.0, sd=2.0)),))
    span = n * 10.0 / 64
    walltime = span / 4 + 30.0

    def with_walltime() -> float:
        t0 = time.perf_counter()
        p = predict_walltime(wf, walltime, grace=5.0, margin=1.0)
        dt = time.perf_counter() - t0
        r.out["predict_allocations"] = p.allocations
        r.out["predict_first_work_fraction"] = round(p.work_fraction, 4)
        return dt

    def plain() -> float:
        t0 = time.perf_counter()
        predict(wf, mode="async", seeds=[0], keep_records=True)
        return time.perf_counter() - t0

    walled, base = run.interleave(r.reps, with_walltime, plain)
    r.out.update(predict_walltime_s=round(run.med(walled), 3), predict_plain_s=round(
        run.med(base), 3), predict_ratio=round(run.paired(walled, base), 2))
    r.samples["predict"] = {"walltime": walled, "plain": base}
    print(f"predict: {n:,} tasks on 64 cores in allocations of {walltime:.0f} s: "
          f"{r.out['predict_allocations']} allocations, the first holds "
          f"{r.out['predict_first_work_fraction']:.1%} of the work; {run.med(walled):.2f} s "
          f"beside {run.med(base):.2f} s for one simulation of all of it")


BENCHES = {"core": bench_core, "predict": bench_predict}


def main() -> None:
    run.run_benches(__doc__ or "", BENCHES)


if __name__ == "__main__":
    main()
