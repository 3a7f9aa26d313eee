"""Live progress counts tasks per kind from the hooks and prints plain lines off a terminal."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import tandem
from tandem.config import load_workflow
from tandem.runtime.workflow import run_workflow_async
from tandem.spec import Mock, Resources, TaskSpec
from tandem.trace.progress import Progress
from tests.workflows import EXAMPLES


def test_progress_lines_while_a_workflow_runs(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(out, interval=0.05)
    wf = load_workflow(EXAMPLES / "dg2.yaml")
    asyncio.run(run_workflow_async(wf, time_scale=0.002, run_dir=tmp_path, progress=progress))
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3                                  # periodic lines, then the last one
    assert any("running" in ln and " 0 running" not in ln.split(";")[0] for ln in lines[:-1])
    last = lines[-1]
    assert "simulation 192/192 done, 0 running, 0 waiting, 0 failed" in last
    assert "analysis 64/64 done" in last and "cores 0% gpus 0%" in last


def boom() -> None:
    raise RuntimeError("no")


def test_progress_counts_failures_and_tasks_that_never_ran(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(out)

    async def main() -> None:
        async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path,
                                       instruments=[progress]) as s:
            bad = s.submit(boom, kind="analysis")
            s.submit(print, bad, kind="analysis")          # never runs
            s.submit_spec(TaskSpec(name="m", kind="mock", work=Mock(seconds=0.01),
                                   resources=Resources(cores=1)))
            assert progress.kinds["analysis"].waiting == 2
    asyncio.run(main())
    a, m = progress.kinds["analysis"], progress.kinds["mock"]
    assert (a.waiting, a.running, a.done, a.failed) == (0, 0, 0, 2)
    assert (m.waiting, m.running, m.done, m.failed) == (0, 0, 1, 0)
    assert progress.busy_cores == 0
    assert "analysis 0/2 done, 0 running, 0 waiting, 2 failed" in out.getvalue()
