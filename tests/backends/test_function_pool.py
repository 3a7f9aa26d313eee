"""WorkerPool with real worker processes: idle workers beyond max_idle are retired (the
longest idle, of another GPU set first), an exited worker is reaped and forgotten, and a
paused worker's process really stops and continues (as the kernel reports it)."""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from pathlib import Path

from tandem.backends.framing import INIT, PROTOCOL, frame
from tandem.backends.function_pool import WorkerPool
from tandem.backends.idle import IdleWorkers
from tandem.backends.worker_handle import WorkerHandle, WorkerState


def test_idle_workers_beyond_the_limit_are_retired_then_forgotten(tmp_path: Path) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        gone: asyncio.Queue[tuple[WorkerHandle, int]] = asyncio.Queue()
        pool = WorkerPool(tmp_path, IdleWorkers(1), kill_grace=5.0, nodes=None)

        def on_exit(w: WorkerHandle) -> None:
            gone.put_nowait((w, pool.forget(w)))

        def discard(w: WorkerHandle) -> None:
            w.read()                   # its ready message: this test sends no call

        pool.bind(loop, frame(pickle.dumps((INIT, list(sys.path), None, None), PROTOCOL)),
                  on_readable=discard, on_exit=on_exit)
        cpu, gpu, other = pool.spawn(()), pool.spawn(("0",)), pool.spawn(())
        for w in (cpu, gpu, other):
            w.state = WorkerState.BUSY
        pool.make_idle(cpu)
        pool.make_idle(gpu)            # two idle, one allowed: the CPU worker (another set)
        w, rc = await gone.get()
        assert w is cpu and rc == 0 and cpu not in pool.workers
        pool.make_idle(other)          # now the GPU worker is the other set's
        w, _ = await gone.get()
        assert w is gpu and pool.pids() == [other.pid]

        pool.pause(other)           # the kernel says when it stopped, and when it went on
        stopped = os.waitid(os.P_PID, other.pid, os.WSTOPPED | os.WNOWAIT)
        assert stopped is not None and stopped.si_code == os.CLD_STOPPED
        pool.resume(other, None)
        went_on = os.waitid(os.P_PID, other.pid, os.WCONTINUED)
        assert went_on is not None and went_on.si_code == os.CLD_CONTINUED
        pool.retire(other)
        w, _ = await gone.get()
        assert w is other and pool.workers == {} and pool.pids() == []
    asyncio.run(main())
