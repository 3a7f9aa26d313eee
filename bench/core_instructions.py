"""The pure core's cost in instructions per task lifecycle, which does not depend on load.

    python bench/core_instructions.py [--src DIR] [--tasks 20000] [--burst 1000]

Runs ``bench/run.py``'s core loop (submit in bursts, launch, exit one by one) under valgrind's
callgrind twice — once whole, once stopping after the specs are built — with a fixed hash seed,
and prints (whole - setup) / tasks. ``--src`` runs another tree's ``src`` (e.g. an older
commit's, taken with ``git archive``) through the same loop. Needs valgrind (Debian's
``valgrind`` package). Repeated runs agree to a few hundred instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
sys.path.insert(0, {src!r})
sys.path.insert(0, {root!r})
import bench.run as r
n, burst, setup_only = {n}, {burst}, {setup_only}
if setup_only:
    from tandem.core.scheduler import Scheduler
    from tandem.spec import FunctionCall, Resources, TaskSpec, Platform
    core = Scheduler(Platform.uniform(1, cores=2))
    specs = [TaskSpec(name="t", work=FunctionCall(fn=r.noop), resources=Resources(cores=1))
             for _ in range(n)]
else:
    r.core_lifecycles(n, burst=burst)
"""


def instructions(src: str, n: int, burst: int, setup_only: bool) -> int:
    code = CHILD.format(src=src, root=str(ROOT), n=n, burst=burst, setup_only=setup_only)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": src}
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-c", code], capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=str(ROOT / "src"), help="the src directory to measure")
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--burst", type=int, default=1000)
    args = ap.parse_args()
    whole = instructions(args.src, args.tasks, args.burst, setup_only=False)
    setup = instructions(args.src, args.tasks, args.burst, setup_only=True)
    per = (whole - setup) // args.tasks
    print(f"{args.src}: {per:,} instructions per task lifecycle "
          f"(bursts of {args.burst}, {args.tasks:,} tasks)")


if __name__ == "__main__":
    main()
