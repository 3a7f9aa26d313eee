"""Memory limits (tandem.backends.memory): what enforcing memory_mb costs, and what it measures.

    python bench/memory.py [--quick] [--repeats N] [--only NAME[,NAME]] [--out FILE]

- ``exec``: /bin/true tasks per second without ``memory_mb``, with it under a cgroup (where
  this machine lets tandem create one) and under ``RLIMIT_DATA``, interleaved; a limited task
  runs through a ``/bin/sh`` that joins its limit, in a cgroup created and removed for it.
- ``function``: no-op function calls per second, the same three ways (a limited call: one
  more frame to the worker and back, and a cgroup, or a soft RLIMIT_DATA, around the call).
- ``peak``: the ``peak_mb`` a task that allocates and touches 200 MiB reports, per mechanism
  and for an executable and a function call (a check of what the trace says, not a speed).
- ``react``: seconds from launching a task that allocates 2 GiB with ``memory_mb=100`` to its
  ``memory`` failure, per mechanism (the OOM killer, or the refused allocation).
Medians of N rounds; ratios are medians of the per-round ratios. Nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (bench/run.py: its options, JSON writer and helpers)
import tandem  # noqa: E402
from tandem.backends.memory import ENV, MemoryLimits  # noqa: E402
from tandem.trace.records import load_trace  # noqa: E402

ALLOC = ("import sys; b = bytearray(int(sys.argv[1]) << 20); "
         "b[::4096] = b'x' * len(b[::4096])")


def alloc(mb: int) -> int:
    b = bytearray(mb << 20)
    b[::4096] = b"x" * len(b[::4096])
    return len(b) >> 20


def mechanisms() -> list[str]:
    """The modes this machine has: ``cgroup`` (when tandem can create one) and ``rlimit``."""
    limits = MemoryLimits("bench", "auto")
    limits.start()
    found = limits.mechanism
    limits.close()
    return (["cgroup"] if found in ("cgroup1", "cgroup2") else []) + ["rlimit"]


async def session_rate(n: int, mode: str, memory_mb: int | None, kind: str) -> float:
    os.environ[ENV] = mode
    run_dir = run.scratch()
    try:
        async with tandem.open_session(run.platform(), run_dir=run_dir) as s:
            t0 = time.perf_counter()
            for _ in range(n):
                if kind == "exec":
                    s.execute(["/bin/true"], memory_mb=memory_mb)
                else:
                    s.submit(run.noop, memory_mb=memory_mb)
            await s.wait_all()
            return n / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def rates(r: run.Run, kind: str, n: int) -> None:
    modes = mechanisms()
    runs: list[Callable[[], float]] = [lambda: asyncio.run(session_rate(n, "off", None, kind))]
    runs += [lambda m=m: asyncio.run(session_rate(n, m, 512, kind)) for m in modes]
    samples = run.interleave(r.reps, *runs)
    r.samples[kind] = dict(zip(["none", *modes], samples, strict=True))
    r.out[f"{kind}_unlimited_per_s"] = round(run.med(samples[0]))
    for m, xs in zip(modes, samples[1:], strict=True):
        r.out[f"{kind}_{m}_per_s"] = round(run.med(xs))
        r.out[f"{kind}_{m}_ratio"] = round(run.paired(xs, samples[0]), 3)
        print(f"{kind}: {m} {run.med(xs):,.0f}/s vs unlimited {run.med(samples[0]):,.0f}/s "
              f"({run.paired(xs, samples[0]):.3f}x)")


def bench_exec(r: run.Run) -> None:
    rates(r, "exec", 200 if r.quick else 1_000)


def bench_function(r: run.Run) -> None:
    rates(r, "function", 1_000 if r.quick else 5_000)


async def ended(mode: str, mb: int, memory_mb: int) -> dict[str, Any]:
    os.environ[ENV] = mode
    run_dir = run.scratch()
    try:
        async with tandem.open_session(run.platform(), run_dir=run_dir) as s:
            t0 = time.perf_counter()
            f = s.execute([sys.executable, "-c", ALLOC, str(mb)], name="executable",
                          memory_mb=memory_mb)
            g = s.submit(alloc, mb, name="function", memory_mb=memory_mb)
            await asyncio.gather(f, g, return_exceptions=True)
            seconds = time.perf_counter() - t0
        tasks = {t.name: t for t in load_trace(run_dir).tasks}
        return {"seconds": seconds, **{k: (t.peak_mb, (t.failure or {}).get("kind"))
                                       for k, t in tasks.items()}}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def bench_peak(r: run.Run) -> None:
    for m in mechanisms():
        got = asyncio.run(ended(m, 200, 1024))
        for kind in ("executable", "function"):
            peak, failure = got[kind]
            r.out[f"peak_{m}_{kind}_mb"] = peak
            print(f"peak: {m} {kind} allocating 200 MiB: peak_mb={peak} failure={failure}")


def bench_react(r: run.Run) -> None:
    for m in mechanisms():
        xs = [asyncio.run(ended(m, 2048, 100)) for _ in range(r.reps)]
        kinds = {x["executable"][1] for x in xs} | {x["function"][1] for x in xs}
        r.out[f"react_{m}_s"] = round(run.med([x["seconds"] for x in xs]), 3)
        r.out[f"react_{m}_causes"] = sorted(str(k) for k in kinds)
        print(f"react: {m} 2 GiB over a 100 MB limit ended in {r.out[f'react_{m}_s']} s "
              f"(causes {r.out[f'react_{m}_causes']})")


BENCHES = {"exec": bench_exec, "function": bench_function, "peak": bench_peak,
           "react": bench_react}


def main() -> None:
    run.run_benches(__doc__ or "", BENCHES, mechanisms=mechanisms())


if __name__ == "__main__":
    main()
