"""A campaign of 200 function tasks, run as its own driver process by the resume tests.

    python tests/campaign.py RUN_DIR [--resume] [--fifo PATH] [--block]

With ``--block`` tasks 100 and later never return (the driver is killed while they run);
with ``--fifo`` the driver writes ``half`` to PATH once the first 100 are done and in the
journal's file. Prints the 200 results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import tandem

HALF = 100


def work(i: int) -> int:
    if i >= HALF and os.environ.get("CAMPAIGN_BLOCK") == "1":
        select.select([], [], [])          # never returns: the driver is killed meanwhile
    return i * i


async def main(run_dir: str, resume: bool, fifo: str | None) -> list[int]:
    async with tandem.open_session(tandem.Platform.local(), run_dir=run_dir,
                                   resume=resume) as s:
        futures = [s.submit(work, i, name="work") for i in range(2 * HALF)]
        await asyncio.gather(*futures[:HALF])
        s.sync_journal()
        if fifo is not None:
            with open(fifo, "w") as f:
                f.write("half\n")
        return list(await asyncio.gather(*futures))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--fifo")
    p.add_argument("--block", action="store_true")
    a = p.parse_args()
    if a.block:
        os.environ["CAMPAIGN_BLOCK"] = "1"     # the workers inherit it
    print(json.dumps(asyncio.run(main(a.run_dir, a.resume, a.fifo))))
