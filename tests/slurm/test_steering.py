"""Steering job steps on the real cluster: a preemption's signal reaches every rank on every
node (through scancel, not srun's own cancel), pause and resume stop and continue the ranks,
and a pause that would release the cores is refused."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from tandem import Platform, Resources, SpecError, open_session
from tandem.spec.platform import Node
from tests.procs import proc_state, wait_until

# each rank: on a first attempt, trap USR1 (checkpoint, then leave), note its pid, wait;
# on the attempt after the preemption, say so and end
RANK = ('d=$TANDEM_TASK_DIR; r=$SLURM_PROCID; '
        'if [ "$TANDEM_PREEMPTED" = 1 ]; then echo "again $r $SLURMD_NODENAME"; exit 0; fi; '
        'trap \'echo "ckpt $r" > $d/ckpt.$r; exit 0\' USR1; echo $$ > $d/pid.$r; '
        'while true; do sleep 0.05; done')


def two_nodes(job: str) -> Platform:
    return Platform(nodes=(Node(name="n1", cores=(0,)), Node(name="n2", cores=(0,))),
                    slurm_job=job, name="one-core-each")


def pids(workdir: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(workdir.glob("pid.*")) if p.read_text().strip()]


def test_a_preemption_signals_every_rank_then_the_task_runs_again(in_job: str,
                                                                  tmp_path: Path) -> None:
    async def main() -> tuple[str, list[str], Any]:
        async with open_session(two_nodes(in_job), run_dir=tmp_path) as s:
            f = s.execute(RANK, shell=True, resources=Resources(ranks=2, cores=1),
                          name="ranks")
            workdir = Path(s.driver.workdir(f.task_id, "ranks"))
            await wait_until(lambda: len(pids(workdir)) == 2, 120, "both ranks to start")
            s.preempt(f, grace=60, signal=signal.SIGUSR1, by="test", reason="walltime")
            r = await f
            ckpts = sorted(p.read_text().strip() for p in workdir.glob("ckpt.*"))
            return r.stdout.read_text(), ckpts, f.record

    out, ckpts, record = asyncio.run(asyncio.wait_for(main(), 240))
    assert ckpts == ["ckpt 0", "ckpt 1"]       # both ranks, on both nodes, got SIGUSR1
    assert sorted(out.split("\n")[-3:-1]) == ["again 0 n1", "again 1 n2"]
    assert record.attempts == 2 and record.preempted == 1


def test_pause_stops_and_resume_continues_every_rank(in_job: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with open_session(two_nodes(in_job), run_dir=tmp_path) as s:
            f = s.execute(RANK, shell=True, resources=Resources(ranks=2, cores=1),
                          name="ranks")
            workdir = Path(s.driver.workdir(f.task_id, "ranks"))
            await wait_until(lambda: len(pids(workdir)) == 2, 120, "both ranks to start")
            ranks = pids(workdir)
            with pytest.raises(SpecError, match="cannot release its cores"):
                s.pause(f, release=True)
            s.pause(f)
            await wait_until(lambda: all(proc_state(p) == "T" for p in ranks), 60,
                             "both ranks to stop")
            s.resume(f)
            await wait_until(lambda: all(proc_state(p) not in ("T", "") for p in ranks), 60,
                             "both ranks to continue")
            f.cancel("done")
            with pytest.raises(Exception, match="cancelled"):
                await f

    asyncio.run(asyncio.wait_for(main(), 240))
