"""A campaign across two real allocations of the test cluster: the first one's session ends
with work left, the second (a new job) resumes it from the run directory's journal, runs only
what did not finish, in the same task directories, and the session's walltime is each
allocation's own end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import tandem
from tandem import TaskFailed, open_session
from tests.slurm.cluster import allocation, inside

# Each task appends the job it ran in to its own directory's log, then fails unless the
# marker exists: the first job's tasks 2 and 3 fail, the second job fixes them.
SCRIPT = ('echo "$SLURM_JOB_ID $SLURMD_NODENAME" >> "$TANDEM_TASK_DIR/jobs"; '
          'test "$1" -lt 2 -o -e "$2"')


async def campaign(rd: Path, marker: Path, *, resume: bool) -> tuple[list[str], Any]:
    async with open_session(run_dir=rd, resume=resume) as s:
        futures = [s.execute(["sh", "-c", SCRIPT, "sh", str(i), str(marker)], name=f"step{i}")
                   for i in range(4)]
        out = []
        for f in futures:
            try:
                out.append(str((await f).workdir))
            except TaskFailed:
                out.append("failed")
        return out, s.walltime


def test_a_campaign_resumes_in_the_next_allocation(tmp_path: Path) -> None:
    rd, marker = tmp_path / "run", tmp_path / "fixed"
    with allocation("-N2", "--ntasks-per-node=1", "--time=10", "-J", "tandem-resume-1") as one:
        with inside(one):
            first, wall = asyncio.run(asyncio.wait_for(campaign(rd, marker, resume=False), 180))
        # The allocation's end is the session's walltime: about 10 minutes from now.
        assert wall is not None and 0 < wall.ends_at - time.time() <= 600 + 5
    assert first[2:] == ["failed", "failed"] and "failed" not in first[:2]
    marker.touch()
    with allocation("-N2", "--ntasks-per-node=1", "--time=10", "-J", "tandem-resume-2") as two, \
            inside(two):
        second, _ = asyncio.run(asyncio.wait_for(campaign(rd, marker, resume=True), 180))
    assert second[:2] == first[:2]                # restored: the first job's directories
    for i, d in enumerate(second):
        jobs = [line.split()[0] for line in Path(d, "jobs").read_text().splitlines()]
        assert jobs == ([one] if i < 2 else [one, two])     # 2 and 3 ran again, in place
    records = [json.loads(line) for line in (rd / "trace.jsonl").read_text().splitlines()]
    assert sum(r["ev"] == "end" and "restored" in r for r in records) == 2
    summary = tandem.read_journal(rd)
    assert (len(summary.finished), len(summary.failed), len(summary.runs)) == (4, 0, 2)
    assert {e.attempts for e in summary.finished if e.name in ("step2", "step3")} == {2}
