"""``python -m tandem_apps.ddmd.study``: sync, async and plain MD over several seeds, compared.

Contract: :func:`main` runs, for each seed, every configured mode and then the plain-MD
baseline stopped at that seed's longest campaign (the same machine, the same budget), and
reports per run kind the median and the range over seeds of the chapter's metrics:

- ``time_to_target_s``: wall time to the first frame within ``target_rmsd`` (runs that never
  reach it are counted apart, ``reached``);
- ``best_rmsd_common_A``: the best RMSD within the common time (the seed's shortest campaign);
- ``states_per_core_hour``: exploration — distinct states visited within the common time
  (cells of 0.5 Å of RMSD x 0.05 of fraction of native contacts), per core-hour of the
  allocation to that time.

It writes ``study.json`` (every run's numbers and the medians) in its run directory and prints
the table, saying which way the comparison went. ``--mock`` runs the campaign driver with
sleeping stages (no OpenMM or torch; the frames are the stand-in segments' values), for
testing the study itself. A bad option prints one line and exits 2.
Imports: tandem.errors, tandem.runtime.open (and the app's own modules).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tandem.errors import TandemError
from tandem.runtime.open import default_run_dir
from tandem_apps.ddmd.config import CampaignConfig, ConfigError, load_config
from tandem_apps.ddmd.main import overrides, parser, platform_for
from tandem_apps.ddmd.science import Frames, best_within, frames, result_frames, time_to_target

RMSD_BIN = 0.5
FNC_BIN = 0.05


def states_visited(f: Frames, until: float) -> int:
    """Distinct (RMSD, fraction of native contacts) cells of the frames up to ``until``."""
    keep = f.time <= until
    if not keep.any():
        return 0
    cells = np.stack([np.floor(f.rmsd[keep] / RMSD_BIN), np.floor(f.fnc[keep] / FNC_BIN)], 1)
    return len(np.unique(cells, axis=0))


def metrics(f: Frames, common: float, cores: int, target: float) -> dict[str, Any]:
    """One run's numbers at the common time."""
    hours = cores * common / 3600.0
    return {"time_to_target_s": time_to_target(f, target),
            "best_rmsd_common_A": best_within(f, common),
            "states_per_core_hour": states_visited(f, common) / hours if hours > 0 else 0.0}


def spread(xs: list[float]) -> dict[str, float] | None:
    """Median, minimum and maximum (``None`` without values)."""
    if not xs:
        return None
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3),
            "max": round(max(xs), 3)}


def one_seed(cfg: CampaignConfig, base: Path, mock: bool) -> dict[str, dict[str, Any]]:
    """Every mode and the baseline for ``cfg.seed``: each run's metrics."""
    from tandem_apps.ddmd import stages
    from tandem_apps.ddmd.baseline import run_baseline
    from tandem_apps.ddmd.campaign import REAL, run_campaign, stage_medians
    from tandem_apps.ddmd.mock import sleeping_stages

    platform = platform_for(cfg)
    fns = sleeping_stages(cfg.mock) if mock else None   # None: the stages of cfg.data
    if mock:
        prepared = stages.Prepared(initial_pdb=str(base / "initial.pdb"),
                                   target_pdb=str(base / "target.pdb"), sequence=cfg.sequence)
    else:
        prepared = stages.prepare(str(base / "system"), cfg.sequence)
    runs = [asyncio.run(run_campaign(cfg, mode, base / mode, platform, prepared,
                                     functions=fns)) for mode in cfg.modes]
    budget = max(r.makespan for r in runs)
    runs.append(asyncio.run(run_baseline(cfg, base / "plain-md", platform, prepared, budget,
                                         estimate=stage_medians(runs).get("simulation"),
                                         functions=fns or REAL)))
    common = min(r.makespan for r in runs[:-1])
    read = result_frames if mock else frames
    out = {}
    for r in runs:
        out[r.mode] = {"makespan_s": round(r.makespan, 2), "common_s": round(common, 2),
                       **metrics(read(r), common, platform.total_cores, cfg.target_rmsd)}
    return out


def summarize(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians and ranges over seeds, per run kind."""
    kinds = sorted({k for runs in per_seed.values() for k in runs})
    out: dict[str, Any] = {}
    for kind in kinds:
        rows = [runs[kind] for runs in per_seed.values() if kind in runs]
        reached = [r["time_to_target_s"] for r in rows if r["time_to_target_s"] is not None]
        best = [r["best_rmsd_common_A"] for r in rows if r["best_rmsd_common_A"] is not None]
        out[kind] = {"seeds": len(rows), "reached": len(reached),
                     "time_to_target_s": spread(reached),
                     "best_rmsd_common_A": spread(best),
                     "states_per_core_hour": spread([r["states_per_core_hour"] for r in rows])}
    return out


def render(summary: dict[str, Any], target: float) -> str:
    def m(s: dict[str, float] | None, unit: str = "") -> str:
        return "—" if s is None else f"{s['median']:.2f}{unit} [{s['min']:.2f}–{s['max']:.2f}]"
    lines = [f"{'run':<9} {'reached ' + str(target) + ' Å':>14}  {'time to target':>24}  "
             f"{'best Å @common':>22}  {'states / core-hour':>26}"]
    for kind, s in summary.items():
        lines.append(f"{kind:<9} {s['reached']:>9}/{s['seeds']:<4}  "
                     f"{m(s['time_to_target_s'], ' s'):>24}  {m(s['best_rmsd_common_A']):>22}  "
                     f"{m(s['states_per_core_hour']):>26}")
    best = {k: s["best_rmsd_common_A"]["median"] for k, s in summary.items()
            if s["best_rmsd_common_A"] is not None}
    if best:
        winner = min(best, key=lambda k: best[k])
        lines.append(f"measured: the lowest median best RMSD within the common time is "
                     f"{winner}'s ({best[winner]:.2f} Å); medians [min–max] over seeds")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    ap.prog = "python -m tandem_apps.ddmd.study"
    ap.add_argument("--seeds", type=int, default=3, help="seeds (1, 2, ...; default 3)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        print(f"error: --seeds must be at least 1, got {args.seeds}", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config, overrides(args))
        platform_for(cfg)
    except (ConfigError, TandemError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = Path(args.run_dir) if args.run_dir else default_run_dir("ddmd-study")
    base.mkdir(parents=True, exist_ok=True)
    per_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for i in range(args.seeds):
        seed = cfg.seed + i
        print(f"seed {seed}: {', '.join(cfg.modes)} and plain MD ...", flush=True)
        per_seed[seed] = one_seed(cfg.model_copy(update={"seed": seed}), base / f"seed{seed}",
                                  args.mock)
    summary = summarize(per_seed)
    (base / "study.json").write_text(json.dumps(
        {"config": cfg.model_dump(mode="json"), "runs": per_seed, "summary": summary},
        indent=2))
    print(render(summary, cfg.target_rmsd))
    print(f"study directory: {base} (study.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
