"""The bare executable baseline: ``subprocess.Popen`` + ``os.pidfd_open``, N processes at a time.

    python bench/procs.py [--tasks 1000] [--concurrency 2] [--no-pin]

What tandem's executable backend does at its core, with nothing else: start a process with
``Popen``, open a pidfd on it, wait for readiness of the pidfds with ``selectors`` (epoll),
reap the one that exited and start the next. No asyncio, no child watcher, no files, no process
group, no environment built: the cheapest way Python has to run ``argv`` ``concurrency`` at a
time.

Pinning, as tandem does it (the calling thread's affinity is set to one free core around
``Popen``, and the child inherits it), is on by default: on the shared 2-core development
machine, under load, unpinned ``/bin/true`` processes ran at a third of the rate of pinned ones
(600 against 1,800/s), so an unpinned baseline would measure the scheduler's placement of
short processes, not tandem's overhead. ``pin=False`` gives the unpinned loop.
"""

from __future__ import annotations

import argparse
import os
import selectors
import subprocess
import time
from collections.abc import Sequence


def popen_pidfd_loop(n: int, concurrency: int = 2, *, pin: bool = True,
                     argv: Sequence[str] = ("/bin/true",)) -> float:
    """Run ``argv`` ``n`` times, ``concurrency`` at a time (each pinned to one free core of
    this process's mask when ``pin``); returns processes per second."""
    sel = selectors.DefaultSelector()
    mask = os.sched_getaffinity(0)
    free = sorted(mask)
    if pin and len(free) < concurrency:
        raise ValueError(f"{concurrency} pinned processes need {concurrency} cores, "
                         f"this process has {len(free)}")
    started = 0
    done = 0

    def start() -> None:
        nonlocal started
        if pin:
            core = free.pop()
            os.sched_setaffinity(0, (core,))
            try:
                p = subprocess.Popen(argv)
            finally:
                os.sched_setaffinity(0, mask)
        else:
            core = -1
            p = subprocess.Popen(argv)
        fd = os.pidfd_open(p.pid)
        sel.register(fd, selectors.EVENT_READ, (p, core))
        started += 1

    t0 = time.perf_counter()
    try:
        while started < min(n, concurrency):
            start()
        while done < n:
            for key, _ in sel.select():
                p, core = key.data
                if core >= 0:
                    free.append(core)
                sel.unregister(key.fd)
                os.close(key.fd)
                if p.wait() != 0:
                    raise RuntimeError(f"{argv[0]} exited with {p.returncode}")
                done += 1
                if started < n:
                    start()
        return n / (time.perf_counter() - t0)
    finally:
        sel.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1_000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--no-pin", action="store_true", help="leave the processes unpinned")
    args = ap.parse_args()
    rate = popen_pidfd_loop(args.tasks, args.concurrency, pin=not args.no_pin)
    print(f"/bin/true x {args.tasks:,}, {args.concurrency} at a time"
          f"{', unpinned' if args.no_pin else ', pinned'}: {rate:,.0f}/s")


if __name__ == "__main__":
    main()
