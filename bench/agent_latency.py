"""Agent reaction latency: from a task's completion to the agent's next submission.

    python bench/agent_latency.py [--tasks 2000] [--repeats 3]

An agent keeps every core busy with no-op function tasks: each ``on_result`` handler submits
the next one, until ``--tasks`` have run. The latency of one reaction is the session clock at
the handler's ``submit`` minus the finished task's ``record.ended`` (when the scheduler handled
its exit). Beside it, in the same process: the same resubmission loop in plain asyncio (done
callbacks into a queue, as ``tandem.as_completed`` does). Repeats are interleaved; the numbers
printed are medians over repeats of each run's median and p95. Prints one JSON object last.
Nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tandem  # noqa: E402


def noop() -> None:
    return None


def scratch() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="tandem-bench-", dir=base)


def quantiles(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    return statistics.median(s), s[min(len(s) - 1, int(0.95 * len(s)))]


class Resubmit(tandem.Agent):
    """Each result submits the next task until ``total`` have been submitted."""

    def __init__(self, total: int, width: int) -> None:
        self.total = total
        self.width = width
        self.submitted = 0
        self.latency: list[float] = []

    @tandem.on_start
    async def seed(self, s: tandem.AgentSession) -> None:
        for _ in range(self.width):
            s.submit(noop, kind="noop")
            self.submitted += 1

    @tandem.on_result(kind="noop")
    async def next_one(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        if self.submitted < self.total:
            now = time.monotonic()
            s.submit(noop, kind="noop")
            self.submitted += 1
            self.latency.append(now - fut.record.ended)


async def with_agent(total: int) -> list[float]:
    run_dir = scratch()
    try:
        async with tandem.open_session(run_dir=run_dir) as s:
            width = s.platform.total_cores
            await tandem.gather(*(s.submit(noop) for _ in range(width)))   # warm workers
            agent = Resubmit(total, width)
            await tandem.run_agents(s, agent)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return agent.latency


async def plain_loop(total: int) -> list[float]:
    run_dir = scratch()
    latency: list[float] = []
    try:
        async with tandem.open_session(run_dir=run_dir) as s:
            width = s.platform.total_cores
            await tandem.gather(*(s.submit(noop) for _ in range(width)))
            done: asyncio.Queue[tandem.TaskFuture] = asyncio.Queue()
            for _ in range(width):
                s.submit(noop).add_done_callback(done.put_nowait)
            submitted = width
            while submitted < total:
                fut = await done.get()
                now = time.monotonic()
                s.submit(noop).add_done_callback(done.put_nowait)
                submitted += 1
                latency.append(now - fut.record.ended)
            await s.wait_all()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return latency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    agent_q: list[tuple[float, float]] = []
    plain_q: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        agent_q.append(quantiles(asyncio.run(with_agent(args.tasks))))
        plain_q.append(quantiles(asyncio.run(plain_loop(args.tasks))))
    out = {
        "tasks": args.tasks, "repeats": args.repeats,
        "agent_latency_median_ms": round(statistics.median(q[0] for q in agent_q) * 1e3, 4),
        "agent_latency_p95_ms": round(statistics.median(q[1] for q in agent_q) * 1e3, 4),
        "plain_latency_median_ms": round(statistics.median(q[0] for q in plain_q) * 1e3, 4),
        "plain_latency_p95_ms": round(statistics.median(q[1] for q in plain_q) * 1e3, 4),
    }
    print(f"agent: median {out['agent_latency_median_ms']} ms, p95 "
          f"{out['agent_latency_p95_ms']} ms (task completion to the agent's next submission)")
    print(f"plain asyncio loop: median {out['plain_latency_median_ms']} ms, p95 "
          f"{out['plain_latency_p95_ms']} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
