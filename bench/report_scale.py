"""``tandem report`` at scale: the HTML report of a 100,000-task trace.

    python bench/report_scale.py [--campaigns 100] [--iterations 5] [--nodes 16] [--png]
                                 [--keep DIR]

The trace is a simulator's run (``simulate_to_run_dir``) of ``bench/sim_scale.py``'s
AI-coupled campaigns: 200 tasks per iteration in six task sets (simulation, aggregation,
analysis, training, inference, agent), 100 campaigns x 5 iterations = 100,000 tasks, on
``--nodes`` nodes of 42 cores and 6 GPUs (16 nodes: 672 core lanes and 96 GPU lanes).

Prints, for the same trace in the same process: the baseline (``load_trace`` + ``summarize``,
what ``tandem trace summary`` costs), the report (``write_report``: the baseline plus lanes,
bars, curves and the HTML page) and, with ``--png``, the report with its PNG figures; the HTML
size and how many bars the timeline drew; and, last, one JSON line with every number. Nothing
passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sim_scale import campaigns  # noqa: E402
from tandem.sim import simulate_to_run_dir  # noqa: E402
from tandem.trace.metrics import summarize  # noqa: E402
from tandem.trace.records import load_trace  # noqa: E402
from tandem.trace.report import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaigns", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--png", action="store_true", help="also time the report with its PNGs")
    ap.add_argument("--keep", metavar="DIR", help="write the run here (default: a temp dir)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tandem-report-") as tmp:
        run_dir = Path(args.keep) if args.keep else Path(tmp) / "run"
        t0 = time.perf_counter()
        wf = campaigns(args.campaigns, args.iterations, args.nodes)
        simulate_to_run_dir(wf, run_dir)
        t1 = time.perf_counter()
        trace = run_dir / "trace.jsonl"
        out: dict[str, Any] = {"nodes": args.nodes, "simulate_s": round(t1 - t0, 2),
                               "trace_mib": round(trace.stat().st_size / 2**20, 1)}

        t2 = time.perf_counter()
        run = load_trace(run_dir)
        m = summarize(run)
        t3 = time.perf_counter()
        out.update(tasks=m.tasks, baseline_s=round(t3 - t2, 2))
        print(f"trace: {m.tasks:,} tasks on {args.nodes} nodes ({run.total_cores:,} cores, "
              f"{run.total_gpus:,} GPUs), simulated makespan {m.makespan / 3600:.2f} h, "
              f"{out['trace_mib']} MiB of JSONL; simulated and written in {t1 - t0:.1f} s")
        print(f"baseline (load_trace + summarize): {t3 - t2:.2f} s", flush=True)
        del run

        t4 = time.perf_counter()
        written = write_report(run_dir)
        t5 = time.perf_counter()
        tl = written.views[0].timeline
        size = written.html.stat().st_size
        out.update(report_s=round(t5 - t4, 2), html_mib=round(size / 2**20, 2),
                   pieces=tl.pieces, bars=len(tl.bars), lanes=len(tl.lanes),
                   merge_s=round(tl.resolution, 3))
        print(f"report: {t5 - t4:.2f} s ({(t5 - t4) / (t3 - t2):.1f} x the baseline), "
              f"HTML {size / 2**20:.2f} MiB; {tl.pieces:,} task-on-unit pieces drawn as "
              f"{len(tl.bars):,} bars on {len(tl.lanes):,} lanes (merged closer than "
              f"{tl.resolution:.3g} s)", flush=True)
        if args.png:
            t6 = time.perf_counter()
            write_report(run_dir, png=True)
            t7 = time.perf_counter()
            out["report_png_s"] = round(t7 - t6, 2)
            print(f"report with PNGs: {t7 - t6:.2f} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
