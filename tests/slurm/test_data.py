"""Results by reference on an allocation and data-aware placement, for real: the test
cluster's n1 and n2 share this host's memory, so their workers keep large results in the
session's directory, and the core places a consumer on the node its input was made on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from tandem import Resources
from tandem import read_trace as tandem_trace
from tests.runtime.test_kept import mapped_from
from tests.slurm.test_functions import Barrier, run, session

N = 1_000_000          # 8 MB of float64: kept (the default threshold is 1 MiB)


def hold_node(barrier: str) -> str:
    """Hold both cores of a node until the test lets go."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(barrier)
        assert s.recv(2) == b"go"
    return os.environ["SLURMD_NODENAME"]


def produce(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


def consume(a: np.ndarray) -> tuple[str, float, str | None]:
    """Where it ran, what it read, and the file its argument is mapped from (no copy)."""
    return os.environ["SLURMD_NODENAME"], float(a.sum()), mapped_from(a)


def test_a_consumer_runs_where_its_input_is_kept_and_maps_it(in_job: str,
                                                             tmp_path: Path) -> None:
    async def main() -> tuple[Any, ...]:
        async with Barrier(2) as barrier, session(tmp_path) as (s, backend):
            block = s.submit(hold_node, barrier.path, resources=Resources(cores=2),
                             name="block")                     # first fit: all of n1
            prod = s.submit(produce, N, name="produce")        # so it runs on n2
            value = await prod
            # n1 is free again before the consumer is ready: first fit alone would take it
            r, w = await asyncio.open_unix_connection(barrier.path)   # the second party
            assert await r.read(2) == b"go"
            w.close()
            held = await block
            before = backend.received_bytes
            cons = s.submit(consume, prod, name="consume")
            got = await cons
            ref = prod.ref
            return (held, ref, got, backend.received_bytes - before, float(value.sum()))

    held, ref, (node, total, mapped), received, driver_total = run(main())
    expected = float(N * (N - 1) / 2)
    assert held == "n1"
    assert ref is not None and ref.node == "n2" and ref.nbytes >= 8 * N
    assert node == "n2"                              # placed near its input, not first fit
    assert total == driver_total == expected
    assert mapped is not None and mapped.startswith(os.path.dirname(ref.path))
    assert received < 4096                           # the consumer's result, small


def small() -> int:
    return 1


def test_a_lost_node_takes_its_kept_results_and_a_dependent_says_whose(tmp_path: Path) -> None:
    """n2's slurmd is stopped after a result was kept there: the next task placed on n2 fails
    with NODE_FAILED, the node is lost, and a dependent of the kept result (placed on n1, the
    node left) fails at launch naming the producer and the node."""
    import subprocess

    import pytest

    from tandem import Platform, TaskFailed, open_session
    from tandem.spec.platform import Node
    from tests.slurm.cluster import allocation, inside

    script = Path(__file__).resolve().parents[2] / "scripts" / "slurm.sh"

    async def main(job: str) -> tuple[Any, ...]:
        platform = Platform(nodes=(Node(name="n2", cores=(0, 1)), Node(name="n1", cores=(0,))),
                            slurm_job=job, name="n2-first")
        async with open_session(platform, run_dir=tmp_path) as s:
            prod = s.submit(produce, N, name="produce")          # first fit: n2
            await s.submit(small, after=[prod], name="after")   # it ended; nobody mapped it
            ref = prod.ref
            await asyncio.to_thread(subprocess.run, ["bash", str(script), "stop-node", "n2"],
                                    check=True, timeout=60)
            probe = s.execute(["true"], name="probe")            # n2 again: it fails there
            with pytest.raises(TaskFailed, match="node 'n2'"):
                await probe
            cons = s.submit(consume, prod, name="consume")       # n1, the node left
            with pytest.raises(TaskFailed) as e:
                await cons
            return ref, str(e.value), cons.record.placement

    with allocation("-N2", "--ntasks-per-node=2", "--mem=200", "--no-kill",
                    "-J", "tandem-data-loss") as job, inside(job):
        try:
            ref, error, placement = asyncio.run(asyncio.wait_for(main(job), 240))
        finally:
            subprocess.run(["bash", str(script), "start-node", "n2"], check=True, timeout=60)
    assert ref is not None and ref.node == "n2"
    assert placement is not None and placement.node == "n1"
    assert "consume" in error and f"result of task {ref.task_id}" in error
    assert "kept on node 'n2', is lost" in error
    assert not os.path.exists(ref.path)


def test_a_100_mb_array_crosses_nodes_by_reference(in_job: str, tmp_path: Path) -> None:
    """The producer runs on one node, then a task holds that node, so its consumer runs on the
    other (without estimates it does not wait for its inputs' node): the value is equal and
    nothing of it went through the driver. The test cluster's nodes share this host's memory,
    so the consumer's worker maps the producer's segment."""
    big = 12_500_000                       # 100 MB of float64

    async def main() -> tuple[Any, ...]:
        async with Barrier(2) as barrier, session(tmp_path) as (s, backend):
            prod = s.submit(produce, big, resources=Resources(cores=2), name="produce")
            await s.submit(small, after=[prod], name="after")        # it ended, unmapped
            hold = s.submit(hold_node, barrier.path, resources=Resources(cores=2),
                            name="hold")                 # first fit: the producer's node
            before = backend.received_bytes
            cons = s.submit(consume, prod, resources=Resources(cores=2), name="consume")
            r, w = await asyncio.open_unix_connection(barrier.path)
            assert await r.read(2) == b"go"
            w.close()
            got = await cons
            return (prod.ref, got, backend.received_bytes - before, await hold,
                    cons.record.placement)

    ref, (node, total, mapped), received, held, placement = run(main())
    assert ref is not None and ref.nbytes >= 8 * big
    assert held == ref.node and placement is not None and placement.node == node
    assert node != ref.node                  # across nodes
    assert total == float(big * (big - 1) / 2)
    assert mapped is not None and mapped.startswith(os.path.dirname(ref.path))
    assert received < 4096                  # the consumer's result and the hold's, small


def test_a_lost_result_whose_producer_may_retry_is_made_again(tmp_path: Path) -> None:
    """As above, but the producer allows a retry: when n2 is lost, tandem recomputes its kept
    result on n1 (the node left), and the dependent submitted afterwards waits for that and
    reads the value made again; the producer's own future gives it too."""
    import subprocess

    from tandem import Platform, open_session
    from tandem.spec.platform import Node
    from tests.slurm.cluster import allocation, inside

    script = Path(__file__).resolve().parents[2] / "scripts" / "slurm.sh"

    async def main(job: str) -> tuple[Any, ...]:
        platform = Platform(nodes=(Node(name="n2", cores=(0, 1)), Node(name="n1", cores=(0,))),
                            slurm_job=job, name="n2-first")
        async with open_session(platform, run_dir=tmp_path) as s:
            prod = s.submit(produce, N, name="produce", retries=1)      # first fit: n2
            await s.submit(small, after=[prod], name="after")
            first_path = prod.ref.path if prod.ref is not None else ""
            await asyncio.to_thread(subprocess.run, ["bash", str(script), "stop-node", "n2"],
                                    check=True, timeout=60)
            probe = s.execute(["true"], name="probe")
            with contextlib.suppress(Exception):
                await probe                                          # fails: n2 is lost
            cons = s.submit(consume, prod, name="consume")
            got = await cons
            value = await prod
            ref = prod.ref
            return first_path, ref, got, float(value.sum()), cons.record.deps

    with allocation("-N2", "--ntasks-per-node=2", "--mem=200", "--no-kill",
                    "-J", "tandem-data-redo") as job, inside(job):
        try:
            first_path, ref, (node, total, mapped), driver_total, deps = \
                asyncio.run(asyncio.wait_for(main(job), 240))
        finally:
            subprocess.run(["bash", str(script), "start-node", "n2"], check=True, timeout=60)
    expected = float(N * (N - 1) / 2)
    assert ref is not None and ref.node == "n1" and ref.path != first_path
    assert node == "n1" and total == driver_total == expected
    assert mapped == ref.path                       # the consumer mapped the new segment
    assert len(deps) == 2                           # the producer and its recomputation
    names = {r["name"]: r for r in tandem_trace(tmp_path) if r.get("ev") == "end"}
    assert names["produce (recomputed)"]["state"] == "done"
    assert names["probe"]["state"] == "failed"
