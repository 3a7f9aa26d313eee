"""``python -m tandem_apps.active_learning``: active learning against a sweep, measured and
predicted.

Contract: :func:`main` runs each method on this machine (same cores, same budget, same target),
then the same campaigns on virtual time with task durations fitted to the measured ones
(several seeds: the spread a single run cannot show), writes ``summary.json``,
``best_vs_time.png`` and each run's tandem trace under the run directory, and prints the
comparison. A bad option prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tandem import Duration, Platform
from tandem.errors import TandemError
from tandem.runtime.open import default_run_dir
from tandem_apps.active_learning.campaign import (
    AL,
    SIMULATION,
    SWEEP,
    TRAINING,
    CampaignConfig,
    CampaignResult,
    run_campaign,
    simulate_campaign,
)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m tandem_apps.active_learning",
        description="Where to put a heat-pipe contact on a chip's heat spreader so the peak "
                    "temperature stays below a target: a Gaussian-process agent against a "
                    "Latin-hypercube sweep with the same cores and budget, run on this machine "
                    "and predicted on virtual time.")
    d = CampaignConfig()
    ap.add_argument("--target", type=float, default=d.target, help="°C (default %(default)s)")
    ap.add_argument("--budget", type=int, default=d.budget,
                    help="simulations per method at most (default %(default)s)")
    ap.add_argument("--grid", type=int, default=d.grid,
                    help="cells per side of the heat solve (default %(default)s)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--cores", type=int, help="cores to use (default: all this process has)")
    ap.add_argument("--seeds", type=int, default=8,
                    help="seeds of the prediction on virtual time (0: none; default %(default)s)")
    ap.add_argument("--model-grid", type=int, default=64,
                    help="grid of the objective's model in the prediction (default %(default)s)")
    ap.add_argument("--methods", default=f"{AL},{SWEEP}", help="comma-separated")
    ap.add_argument("--run-dir", help="where to write (default: a new runs/active-learning-...)")
    return ap


def platform_for(cores: int | None) -> Platform:
    here = Platform.local()
    if cores is None:
        return here
    ids = sorted(c for n in here.nodes for c in n.cores)
    if not 1 <= cores <= len(ids):
        raise TandemError(f"--cores {cores}: this process may use 1 to {len(ids)} cores")
    return Platform.local(cores=ids[:cores])


def fitted(samples: list[float], fallback: float) -> Duration:
    """A normal duration with the samples' mean and spread."""
    if not samples:
        return Duration(mean=fallback)
    sd = statistics.pstdev(samples) if len(samples) > 1 else 0.0
    return Duration(mean=statistics.fmean(samples), sd=sd)


def predict(config: CampaignConfig, platform: Platform, methods: list[str],
            measured: dict[str, CampaignResult], seeds: int, model_grid: int
            ) -> dict[str, Any]:
    """Each method on virtual time for ``seeds`` seeds, durations fitted to the measured runs."""
    sims = [d for r in measured.values() for d in r.durations.get(SIMULATION, ())]
    trains = [d for r in measured.values() for d in r.durations.get(TRAINING, ())]
    seconds, training = fitted(sims, 0.4), fitted(trains, 0.1)
    out: dict[str, Any] = {"simulation_s": [round(seconds.mean, 3), round(seconds.sd, 3)],
                           "training_s": [round(training.mean, 3), round(training.sd, 3)],
                           "model_grid": model_grid, "seeds": seeds}
    for m in methods:
        runs = [simulate_campaign(m, replace(config, seed=config.seed + k), platform,
                                  seconds=seconds, training_seconds=training,
                                  model_grid=model_grid) for k in range(seeds)]
        reached = [r.time_to_target for r in runs if r.time_to_target is not None]
        # A run that never reached the target counts as later than any that did.
        ordered = sorted(r.time_to_target if r.time_to_target is not None else math.inf
                         for r in runs)
        median = ordered[(len(ordered) - 1) // 2] if ordered else math.inf
        out[m] = {"time_to_target_s": [None if r.time_to_target is None
                                       else round(r.time_to_target, 3) for r in runs],
                  "reached": f"{len(reached)}/{len(runs)}",
                  "median_time_to_target_s": None if math.isinf(median) else round(median, 3),
                  "median_evaluations": statistics.median(len(r.evaluations) for r in runs)}
    return out


def render(summary: dict[str, Any]) -> str:
    """The comparison for people."""
    lines = [f"target: peak temperature <= {summary['target_C']} °C; budget "
             f"{summary['budget']} simulations per method on {summary['cores']} cores "
             f"(one simulation ~{summary['simulation_s']} s)", "",
             f"{'method':<17} {'time to target':>15} {'runs':>5} {'best °C':>8} "
             f"{'trainings':>9}"]
    for m, r in summary["measured"].items():
        ttt = "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s']} s"
        lines.append(f"{m:<17} {ttt:>15} {r['evaluations']:>5} {r['best_C']:>8} "
                     f"{r['trainings']:>9}")
    sp = summary.get("speedup")
    if sp:
        bound = "at least " if sp["at_least"] else ""
        why = " (the sweep did not reach it within its budget)" if sp["at_least"] else ""
        lines += ["", f"effective performance: active learning reached the target "
                      f"{bound}{sp['ratio']}x faster than the sweep{why}"]
    p = summary.get("predicted")
    if p:
        lines += ["", f"predicted on virtual time ({p['seeds']} seeds, durations fitted to "
                      f"this run, objective modelled on a {p['model_grid']}-cell grid):"]
        for m in summary["measured"]:
            if m in p:
                q = p[m]
                lines.append(f"  {m:<15} median time to target "
                             f"{q['median_time_to_target_s']} s, reached {q['reached']}, "
                             f"median {q['median_evaluations']} runs")
    return "\n".join(lines)


def speedup(measured: dict[str, CampaignResult]) -> dict[str, Any] | None:
    """Sweep time-to-target over active learning's; a lower bound (the sweep's whole run) when
    the sweep did not reach the target."""
    al, sw = measured.get(AL), measured.get(SWEEP)
    if al is None or sw is None or not al.time_to_target:
        return None
    reached = sw.time_to_target is not None
    sweep_time = sw.time_to_target if sw.time_to_target is not None else sw.elapsed
    return {"ratio": round(sweep_time / al.time_to_target, 2), "at_least": not reached}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        bad = [m for m in methods if m not in (AL, SWEEP)]
        if bad or not methods:
            raise TandemError(f"--methods: unknown {', '.join(bad) or 'none'} "
                              f"(methods: {AL}, {SWEEP})")
        config = CampaignConfig(target=args.target, budget=args.budget, grid=args.grid,
                                seed=args.seed)
        if config.budget < 1 or config.grid < 8:
            raise TandemError("--budget must be >= 1 and --grid >= 8")
        platform = platform_for(args.cores)
    except TandemError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = Path(args.run_dir) if args.run_dir else default_run_dir("active-learning")
    base.mkdir(parents=True, exist_ok=True)
    measured: dict[str, CampaignResult] = {}
    for m in methods:
        print(f"running {m} on {platform.total_cores} cores ...", flush=True)
        t = time.monotonic()
        measured[m] = asyncio.run(run_campaign(m, config, platform, base / m))
        print(f"  {m}: {measured[m].summary()} ({time.monotonic() - t:.1f} s)", flush=True)
    sims = [d for r in measured.values() for d in r.durations.get(SIMULATION, ())]
    summary: dict[str, Any] = {
        "target_C": config.target, "budget": config.budget, "grid": config.grid,
        "cores": platform.total_cores, "seed": config.seed,
        "simulation_s": round(statistics.fmean(sims), 3) if sims else None,
        "measured": {m: r.summary() for m, r in measured.items()},
        "speedup": speedup(measured),
    }
    if args.seeds > 0:
        print(f"predicting both on virtual time ({args.seeds} seeds) ...", flush=True)
        summary["predicted"] = predict(config, platform, methods, measured, args.seeds,
                                       args.model_grid)
    from tandem_apps.active_learning.figures import best_vs_time

    best_vs_time(list(measured.values()), config.target, base / "best_vs_time.png")
    (base / "summary.json").write_text(json.dumps(summary, indent=2))
    print(render(summary))
    print(f"run directory: {base} (summary.json, best_vs_time.png, "
          f"{', '.join(f'{m}/trace.jsonl' for m in methods)})")
    return 0
