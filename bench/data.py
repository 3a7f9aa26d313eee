"""Data between tasks (tandem.data, tandem.runtime.kept): passing a large NumPy array from a
producer task to a consumer task on one node.

    python bench/data.py [--quick] [--repeats N] [--only NAME[,NAME]] [--out FILE]

- ``handoff``: seconds from submitting a producer that returns a 100 MB float64 array
  (``np.full``) to the result of a consumer that sums it, four ways, interleaved:
  ``ref`` tandem keeping the result by reference (the default for results of 1 MiB or more);
  ``value`` tandem sending it by value (``ref_above=None``: the result through the driver's
  pipes and out again, tandem's only path before results by reference);
  ``file`` by hand, a ``ProcessPoolExecutor(2)`` whose producer writes ``np.save`` to
  ``/dev/shm`` and whose consumer reads it with ``np.load``;
  ``shm`` by hand, the same pool, the producer copying the array into a
  ``multiprocessing.shared_memory`` block and the consumer attaching to it.
  Every way makes the array and sums it the same way; only the hand-off differs. Also the
  bytes the driver read from its workers for the ``ref`` and ``value`` ways.
Medians of N rounds; ratios are medians of the per-round ratios. Nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (bench/run.py: its options, JSON writer and helpers)
import tandem  # noqa: E402
from tandem.backends.functions import FunctionBackend  # noqa: E402
from tandem.backends.mock import MockBackend  # noqa: E402
from tandem.backends.process import ProcessBackend  # noqa: E402

N = 12_500_000       # float64s: 100 MB


def make(n: int) -> np.ndarray:
    return np.full(n, 1.0)


def total(a: np.ndarray) -> float:
    return float(a.sum())


def make_file(n: int) -> str:
    path = f"/dev/shm/tandem-bench-{os.getpid()}.npy"
    np.save(path, make(n))
    return path


def total_file(path: str) -> float:
    try:
        return total(np.load(path))
    finally:
        os.unlink(path)


def make_shm(n: int) -> str:
    from multiprocessing import resource_tracker, shared_memory

    a = make(n)
    block = shared_memory.SharedMemory(create=True, size=a.nbytes)
    np.ndarray(a.shape, a.dtype, buffer=block.buf)[:] = a
    name = block.name
    block.close()
    resource_tracker.unregister(f"/{name}", "shared_memory")   # the consumer unlinks it
    return name


def total_shm(name: str) -> float:
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=name)
    try:
        a = np.ndarray((N,), np.float64, buffer=block.buf)
        result = total(a)
        del a
        return result
    finally:
        block.close()
        block.unlink()


async def tandem_handoff(ref_above: int | None, received: list[int]) -> float:
    run_dir = run.scratch()
    fb = FunctionBackend(log_dir=Path(run_dir) / "workers", prespawn=2)
    try:
        async with tandem.open_session(run.platform(), run_dir=run_dir, journal=False,
                                       backends=[fb, ProcessBackend(), MockBackend()],
                                       ref_above=ref_above) as s:
            await s.submit(total, s.submit(make, 1000))      # both workers warm
            before = fb.received_bytes
            t0 = time.perf_counter()
            got = await s.submit(total, s.submit(make, N))
            seconds = time.perf_counter() - t0
            received.append(fb.received_bytes - before)
            assert got == float(N)
            return seconds
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def pool_handoff(make_fn: Callable[[int], str], total_fn: Callable[[str], float]) -> float:
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        list(pool.map(total, [np.ones(10)] * 4))              # both workers warm
        t0 = time.perf_counter()
        key = pool.submit(make_fn, N).result()
        got = pool.submit(total_fn, key).result()
        seconds = time.perf_counter() - t0
        assert got == float(N)
        return seconds


def bench_handoff(r: run.Run) -> None:
    received: dict[str, list[int]] = {"ref": [], "value": []}
    runs: list[Callable[[], float]] = [
        lambda: asyncio.run(tandem_handoff(1 << 20, received["ref"])),
        lambda: asyncio.run(tandem_handoff(None, received["value"])),
        lambda: pool_handoff(make_file, total_file),
        lambda: pool_handoff(make_shm, total_shm),
    ]
    names = ["ref", "value", "file", "shm"]
    samples = run.interleave(r.reps, *runs)
    r.samples["handoff"] = dict(zip(names, samples, strict=True))
    for name, xs in zip(names, samples, strict=True):
        r.out[f"handoff_{name}_s"] = round(run.med(xs), 4)
    ref = samples[0]
    r.out["handoff_ref_vs_shm"] = round(run.paired(ref, samples[3]), 3)
    r.out["handoff_value_vs_ref"] = round(run.paired(samples[1], ref), 3)
    r.out["handoff_ref_vs_file"] = round(run.paired(ref, samples[2]), 3)
    r.out["handoff_driver_bytes_ref"] = max(received["ref"])
    r.out["handoff_driver_bytes_value"] = min(received["value"])
    print(f"handoff of 100 MB: ref {r.out['handoff_ref_s']} s, value {r.out['handoff_value_s']}"
          f" s, file {r.out['handoff_file_s']} s, shm by hand {r.out['handoff_shm_s']} s; "
          f"ref/shm {r.out['handoff_ref_vs_shm']}x, value/ref {r.out['handoff_value_vs_ref']}x;"
          f" driver read {r.out['handoff_driver_bytes_ref']} bytes (ref) vs "
          f"{r.out['handoff_driver_bytes_value']} (value)")


BENCHES = {"handoff": bench_handoff}


def main() -> None:
    run.run_benches(__doc__ or "", BENCHES)


if __name__ == "__main__":
    main()
