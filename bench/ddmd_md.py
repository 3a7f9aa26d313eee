"""DeepDriveMD's simulation stage: OpenMM ns/day on 1 thread (the baseline) and on 2 threads.

    python bench/ddmd_md.py [--sequence AAAAAAAAAAAAAAA] [--ps 20] [--repeats 3]

Runs ``tandem_apps.ddmd.md.run_segment`` with the default physics (amber14 + OBC2, HBonds,
3 amu hydrogens, 4 fs, no cutoff) the way tandem runs it: the process is pinned to N cores and
OpenMM's CPU platform uses one thread per pinned core. A third configuration runs 1 thread with
the force field's own CustomGBForce for OBC2 (``MDParams(native_gb=False)``) instead of OpenMM's
built-in GBSAOBCForce. Runs are interleaved after one warm-up, and each number is the median
over the repeats. ns/day counts the stepping
only; "setup" is the rest of a segment's wall time (context, velocities, analysis, files).
Prints one line per configuration, then one JSON object. Nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tandem_apps.ddmd import md, peptide


def _segment(params: md.MDParams, initial: str, target: str, out: Path,
             cores: list[int]) -> tuple[float, float]:
    """(ns/day, setup seconds) of one segment run pinned to ``cores``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        t0 = time.perf_counter()
        result = md.run_segment(params, lineage=0, segment=0, start=None, out_dir=str(out),
                                initial_pdb=initial, target_pdb=target)
        wall = time.perf_counter() - t0
    finally:
        os.sched_setaffinity(0, before)
    stepping = params.simulation_ps * 1e-3 / result.ns_per_day * 86400.0
    return result.ns_per_day, wall - stepping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequence", default=peptide.DEFAULT_SEQUENCE)
    parser.add_argument("--ps", type=float, default=20.0, help="simulated ps per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))
    counts = [n for n in (1, 2) if n <= len(cores)]
    params = md.MDParams(simulation_ps=args.ps, report_interval_ps=args.ps / 10)
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        initial, target = peptide.prepare(tmp, args.sequence)
        atoms = sum(1 for line in open(initial) if line.startswith(("ATOM", "HETATM")))
        _segment(md.MDParams(simulation_ps=1.0, report_interval_ps=0.5), initial, target,
                 Path(tmp) / "warmup", cores[:1])
        custom = dataclasses.replace(params, native_gb=False)
        configs = {f"{n}_threads": (params, n) for n in counts}
        configs["1_thread_custom_gb"] = (custom, 1)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
        for rep in range(args.repeats):
            for name, (p, n) in configs.items():
                runs[name].append(_segment(p, initial, target, Path(tmp) / f"{name}-{rep}",
                                           cores[:n]))

    baseline = statistics.median(r[0] for r in runs["1_threads"])
    report: dict[str, object] = {"sequence": args.sequence, "atoms": atoms,
                                 "simulation_ps": args.ps, "repeats": args.repeats}
    print(f"{args.sequence} ({atoms} atoms), {args.ps:g} ps per run, median of {args.repeats}")
    for name, (p, n) in configs.items():
        ns_day = statistics.median(r[0] for r in runs[name])
        setup = statistics.median(r[1] for r in runs[name])
        label = f"{n} thread{'s' if n > 1 else ''}" + ("" if p.native_gb else ", CustomGBForce")
        print(f"  {label:<25} {ns_day:7.1f} ns/day  (x{ns_day / baseline:.2f} of 1 thread)"
              f"  setup {setup:.2f} s per segment")
        report[f"ns_per_day_{name}"] = round(ns_day, 1)
        report[f"setup_s_{name}"] = round(setup, 3)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
