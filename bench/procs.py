"""The bare executable baseline: ``subprocess.Popen`` + ``os.pidfd_open``, N processes at a time.

    python bench/procs.py [--tasks 1000] [--concurrency 2]

What tandem's executable backend does at its core, with nothing else: start a process with
``Popen``, open a pidfd on it, wait for readiness of the pidfds with ``selectors`` (epoll),
reap the one that exited and start the next. No asyncio, no child watcher, no files, no process
group, no pinning: the cheapest way Python has to run ``argv`` ``concurrency`` at a time.
"""

from __future__ import annotations

import argparse
import os
import selectors
import subprocess
import time
from collections.abc import Sequence


def popen_pidfd_loop(n: int, concurrency: int = 2,
                     argv: Sequence[str] = ("/bin/true",)) -> float:
    """Run ``argv`` ``n`` times, ``concurrency`` at a time; returns processes per second."""
    sel = selectors.DefaultSelector()
    started = 0
    done = 0

    def start() -> None:
        nonlocal started
        p = subprocess.Popen(argv)
        fd = os.pidfd_open(p.pid)
        sel.register(fd, selectors.EVENT_READ, p)
        started += 1

    t0 = time.perf_counter()
    try:
        while started < min(n, concurrency):
            start()
        while done < n:
            for key, _ in sel.select():
                p: subprocess.Popen[bytes] = key.data
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
    args = ap.parse_args()
    rate = popen_pidfd_loop(args.tasks, args.concurrency)
    print(f"/bin/true x {args.tasks:,}, {args.concurrency} at a time: {rate:,.0f}/s")


if __name__ == "__main__":
    main()
