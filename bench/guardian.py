"""The guardian (tandem.guardian): what a driver's SIGKILL leaves, and what watching costs.

    python bench/guardian.py [--repeats N] [--out FILE]

- ``orphans``: a driver runs two executables and a function, each of which forked a child
  that sleeps; the driver is SIGKILLed; time from the kill to the last of those processes gone
  (waited on pidfds), per round; and, in the same rounds, how many of them are left 3 s after
  the kill when the guardian is switched off (the baseline: what happened before it).
- ``exec``: /bin/true tasks per second with the guardian on and off, interleaved (the cost of
  one small write per launch and per exit).
Medians of N rounds; ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.test_guardian import DRIVER, start_driver, wait_gone  # noqa: E402

import run  # noqa: E402  (bench/run.py)
from tandem import guardian  # noqa: E402


def killed_driver(guarded: bool) -> tuple[float, int]:
    """Seconds from SIGKILL to the last process gone (guarded), or how many are left after 3 s
    (unguarded: the survivors are then killed here, by pid)."""
    with TemporaryDirectory() as tmp:
        src = DRIVER if guarded else DRIVER.replace(
            "from tandem import guardian\n",
            "from tandem import guardian\nguardian.start = lambda: None\n")
        d, got = start_driver(Path(tmp), src)
        pids = got["exe0"] + got["exe1"] + got["fn"]
        d.send_signal(signal.SIGKILL)
        d.wait()
        t0 = time.monotonic()
        left = wait_gone(pids, 30 if guarded else 3)
        elapsed = time.monotonic() - t0
        for p in left:
            os.kill(p, signal.SIGKILL)
        return elapsed, len(left)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gone_s, left_on, left_off = [], [], []
    for _ in range(args.repeats):
        s, n = killed_driver(True)
        gone_s.append(s)
        left_on.append(n)
        left_off.append(killed_driver(False)[1])
    real = guardian.start
    on, off = [], []
    for _ in range(args.repeats):
        guardian.start = real
        on.append(asyncio.run(run.tandem_exec(1_000)))
        guardian.start = lambda: None   # type: ignore[assignment]
        off.append(asyncio.run(run.tandem_exec(1_000)))
    guardian.start = real
    ratio = statistics.median(a / b for a, b in zip(on, off, strict=True))
    res = {"kill_to_last_gone_s": round(statistics.median(gone_s), 3),
           "left_with_guardian": max(left_on), "left_without_guardian": min(left_off),
           "exec_guarded_per_s": round(statistics.median(on)),
           "exec_unguarded_per_s": round(statistics.median(off)),
           "exec_guarded_ratio": round(ratio, 3)}
    print(f"driver SIGKILLed ({args.repeats} rounds): every process gone after "
          f"{res['kill_to_last_gone_s']:.3f} s with the guardian (left: {max(left_on)}); "
          f"without it {min(left_off)} to {max(left_off)} processes were left 3 s later")
    print(f"/bin/true (1,000, {args.repeats} rounds): {res['exec_guarded_per_s']:,}/s with the "
          f"guardian, {res['exec_unguarded_per_s']:,}/s without, ratio {ratio:.3f}")
    print(json.dumps(res))
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"results": res, "samples": {"kill_to_last_gone_s": gone_s, "left_off": left_off,
                                         "exec_on": on, "exec_off": off},
             "machine": {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                         "cpus": os.cpu_count(), "loadavg": os.getloadavg()}}, indent=1))


if __name__ == "__main__":
    main()
