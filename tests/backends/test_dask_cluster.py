"""The Dask backend's cluster on its own: a real scheduler on 127.0.0.1 and real workers, no
tasks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psutil
import pytest

from tandem.backends.dask_workers import LocalStarter

pytest.importorskip("distributed")
from tandem.backends.dask_cluster import DaskCluster

pytestmark = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                reason="needs cores 0 and 1")


def test_workers_are_reused_per_placement_retired_beyond_max_idle_and_all_end(
        tmp_path: Path) -> None:
    async def main() -> None:
        cluster = DaskCluster(log_dir=tmp_path, address=None, starter=LocalStarter(),
                              kill_grace=3.0, max_idle=1, start_timeout=60.0, host="127.0.0.1")
        await cluster.open()
        try:
            assert cluster.address is not None and cluster.address.startswith("tcp://")
            scheduler = cluster.scheduler_pid()
            assert scheduler is not None and psutil.pid_exists(scheduler)
            a = cluster.worker(("localhost", (0,), ()), {})
            b = cluster.worker(("localhost", (1,), ()), {})
            assert a is not b and a.name != b.name
            assert await cluster.register(a) and await cluster.register(b)
            assert sorted(cluster.worker_pids()) == sorted([a.proc.pid, b.proc.pid])
            cluster.make_idle(a)
            assert cluster.worker(("localhost", (0,), ()), {}) is a   # reused: same placement
            cluster.make_idle(a)
            cluster.make_idle(b)   # two idle, one kept: the oldest (a) is retired
            assert await asyncio.wait_for(a.proc.exited, 30) is not None
            assert cluster.worker_pids() == [b.proc.pid]
        finally:
            cluster.stop_workers()
            await cluster.close()
        assert cluster.client is None and cluster.closing
        assert not psutil.pid_exists(b.proc.pid) and not psutil.pid_exists(scheduler)

    asyncio.run(asyncio.wait_for(main(), 180))
