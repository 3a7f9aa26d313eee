"""A session opened with no platform and no backends inside an allocation runs functions and
executables side by side on both nodes, each exactly where the core placed it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from tandem import open_session


def where() -> tuple[str | None, list[int]]:
    return os.environ.get("SLURMD_NODENAME"), sorted(os.sched_getaffinity(0))


def test_functions_and_executables_with_the_default_backends(in_job: str,
                                                             tmp_path: Path) -> None:
    async def main() -> list[tuple[Any, Any]]:
        async with open_session(run_dir=tmp_path) as s:
            fs = [s.submit(where, name=f"fn{i}") for i in range(4)]
            ex = s.execute("echo $SLURMD_NODENAME", shell=True, name="exe", after=fs)
            out = [(await f, f.record.placement) for f in fs]
            r = await ex
            out.append(((r.stdout.read_text().strip(), None), ex.record.placement))
            return out

    seen = asyncio.run(asyncio.wait_for(main(), 180))
    for (node, cpus), placement in seen[:4]:
        slot = placement.slots[0]
        assert (node, tuple(cpus)) == (slot.node, slot.cores)
    assert {p.slots[0].node for _, p in seen[:4]} == {"n1", "n2"}
    (node, _), placement = seen[4]
    assert node == placement.slots[0].node
