"""Streams between tasks on two nodes of a real allocation: the session's broker is reached
over TCP at the driver's address, with the session's token, and items flow from a writer on
one node to a reader on the other while the writer runs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from tandem import Resources
from tandem.data.stream import ENV, TOKEN_ENV, TOKEN_SIZE, reader, writer
from tests.slurm.test_functions import run, session


def produce(name: str, n: int) -> str:
    with writer(name) as w:
        for i in range(n):
            w.put({"frame": i, "node": os.environ["SLURMD_NODENAME"]})
    return os.environ["SLURMD_NODENAME"]


def consume(name: str) -> tuple[str, list[Any]]:
    return os.environ["SLURMD_NODENAME"], list(reader(name))


def test_a_writer_on_one_node_streams_to_a_reader_on_the_other(in_job: str,
                                                               tmp_path: Path) -> None:
    async def main() -> tuple[Any, ...]:
        async with session(tmp_path) as (s, _):
            st = s.stream("frames", maxsize=4, writers=1)
            address = os.environ[ENV]
            # Both ask for a whole node (2 cores): first fit puts them on n1 and n2.
            got = s.submit(consume, "frames", resources=Resources(cores=2))
            wrote = s.submit(produce, "frames", 50, resources=Resources(cores=2))
            return address, await got, await wrote, st.stats()

    address, (read_on, items), wrote_on, stats = run(main())
    assert address.startswith("tcp:127.0.0.1:")
    assert {read_on, wrote_on} == {"n1", "n2"}
    assert [x["frame"] for x in items] == list(range(50))
    assert {x["node"] for x in items} == {wrote_on}
    assert stats.ended and stats.taken == 50


def test_a_connection_without_the_token_is_closed_before_anything_is_read(
        in_job: str, tmp_path: Path) -> None:
    async def main() -> bytes:
        async with session(tmp_path) as (s, _):
            s.stream("frames", writers=1)
            host, port = os.environ[ENV][4:].rsplit(":", 1)
            assert os.environ[TOKEN_ENV]
            r, w = await asyncio.open_connection(host, int(port))
            w.write(b"x" * TOKEN_SIZE)                 # a wrong token
            await w.drain()
            answer = await r.read()                    # the broker closes the connection
            w.close()
            ended = s.submit(produce, "frames", 1)
            assert (await s.submit(consume, "frames"))[1] == [{"frame": 0, "node": await ended}]
            return answer

    assert run(main()) == b""
