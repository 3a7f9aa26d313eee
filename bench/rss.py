"""The driver's resident memory after a million no-op tasks whose futures are dropped.

    python bench/rss.py [--tasks 1000000] [--batch 10000] [--kind mock|function] [--json]

One session (``Platform.local()``, trace on, run directory on tmpfs) runs ``tasks`` no-op tasks
in batches: submit ``batch`` tasks, ``wait_all``, drop every reference to the batch's futures,
next batch. Nothing the user holds names a finished task, so whatever the driver's memory grows
by is what tandem itself keeps per finished task. The driver is this process; this script runs
in a process of its own (``bench/run.py`` starts it) so that no earlier benchmark's memory is
counted.

``--kind mock`` (the default) submits ``Mock(seconds=0)`` tasks: they go through the session,
the core, the trace and the mock backend's loop timers like any task, but run in the driver
with no worker process and no pickling (a little faster than function tasks, and the driver's
memory is all there is); ``function`` submits ``noop`` function tasks to the warm workers.

Reported (MiB, from ``/proc/self/status``): ``VmRSS`` before the session opens, after the first
batch, at each tenth of the run and at the end (inside the session, after the last batch, before
it closes), ``VmHWM`` (the peak), and the growth per finished task in bytes, from the first
batch to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tandem  # noqa: E402
from tandem import Platform  # noqa: E402
from tandem.spec import Mock, TaskSpec  # noqa: E402

MIB = 1024 * 1024


def noop() -> None:
    return None


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_mib() -> float:
    return status_kib("VmRSS") / 1024


async def run(tasks: int, batch: int, kind: str) -> dict[str, object]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    run_dir = tempfile.mkdtemp(prefix="tandem-bench-rss-", dir=base)
    gc.collect()
    before = rss_mib()
    curve: list[tuple[int, float]] = []
    mock = Mock(seconds=0)
    step = max(batch, tasks // 10)
    try:
        async with tandem.open_session(Platform.local(), run_dir=run_dir) as s:
            t0 = time.perf_counter()
            done = 0
            while done < tasks:
                k = min(batch, tasks - done)
                if kind == "mock":
                    futures = [s.submit_spec(TaskSpec(name="noop", work=mock))
                               for _ in range(k)]
                else:
                    futures = [s.submit(noop) for _ in range(k)]
                await s.wait_all()
                del futures
                done += k
                if done in (k, tasks) or done % step == 0:
                    curve.append((done, rss_mib()))
            dt = time.perf_counter() - t0
            end = rss_mib()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    first_n, first = curve[0]
    per_task = (end - first) * MIB / max(1, tasks - first_n)
    return {
        "kind": kind, "tasks": tasks, "batch": batch, "seconds": round(dt, 2),
        "tasks_per_s": round(tasks / dt),
        "rss_before_mb": round(before, 1), "rss_after_first_batch_mb": round(first, 1),
        "rss_end_mb": round(end, 1), "hwm_mb": round(status_kib("VmHWM") / 1024, 1),
        "bytes_per_task": round(per_task),
        "curve": [(n, round(m, 1)) for n, m in curve],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--kind", choices=("mock", "function"), default="mock")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args()
    out = asyncio.run(run(args.tasks, args.batch, args.kind))
    if not args.json:
        print(f"{out['tasks']:,} {out['kind']} tasks in batches of {out['batch']:,} "
              f"({out['tasks_per_s']:,}/s): driver RSS {out['rss_before_mb']} MiB before, "
              f"{out['rss_after_first_batch_mb']} after the first batch, "
              f"{out['rss_end_mb']} at the end (peak {out['hwm_mb']}); "
              f"{out['bytes_per_task']} bytes per finished task")
        print("curve (tasks, MiB):", out["curve"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
