"""``python -m tandem_apps.abinitio``: the same Monte Carlo sampling with every energy from
Hartree–Fock, then with a surrogate that answers when it can be trusted, and the chapter's
effective performance of the two.

Contract: first (unless ``--no-predict``) predicts both campaigns on tandem's virtual time
from a calibration of one real energy (:mod:`.predict`) and prints the predictions; then runs
the campaigns the ``--modes`` name (default: ``real`` then ``surrogate``) with
the same chains, seeds and number of samples, each in its own run directory under
``--run-dir`` (traces, the surrogate's log and model versions), prints a table — wall time,
real-function tasks, samples per real call, the observables with their standard errors and
their difference from the all-real run in those errors, the angle distributions' overlap, the
surrogate's share and audited error against the bound, each prediction beside its run — and
writes it as ``summary.json``.
Exit status 0, or 2 with one line on bad options.
Imports: tandem, tandem.surrogate, tandem_apps.abinitio.campaign, tandem_apps.abinitio.chain,
tandem_apps.abinitio.predict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Any

import tandem
from tandem.surrogate import SurrogateCosts
from tandem_apps.abinitio.campaign import MODES, CampaignResult, Config, run_campaign
from tandem_apps.abinitio.chain import Moves, angle_histogram, observables
from tandem_apps.abinitio.predict import Prediction, calibrate, predict

ANGLE_BINS = [float(a) for a in range(60, 172, 4)]


def parse(argv: list[str] | None) -> argparse.Namespace:
    d = Config()
    ap = argparse.ArgumentParser(prog="python -m tandem_apps.abinitio", description=__doc__
                                 and __doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", default="abinitio-run",
                    help="where runs go (default: %(default)s)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="campaigns to run, in order (default: %(default)s)")
    ap.add_argument("--chains", type=int, default=d.chains)
    ap.add_argument("--steps", type=int, default=d.steps, help="proposals per chain")
    ap.add_argument("--temperature", type=float, default=d.temperature, help="kelvin")
    ap.add_argument("--basis", default=d.basis, help="PySCF basis set (default: %(default)s)")
    ap.add_argument("--bound", type=float, default=d.bound,
                    help="mean absolute error bound of surrogate answers, millihartree")
    ap.add_argument("--audit-fraction", type=float, default=d.audit_fraction)
    ap.add_argument("--min-pairs", type=int, default=d.min_pairs)
    ap.add_argument("--retrain-every", type=int, default=d.retrain_every)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--predict", action=argparse.BooleanOptionalAction, default=True,
                    help="predict both campaigns on virtual time first (default: on)")
    ap.add_argument("--hit-rate", type=float, default=0.9,
                    help="the prediction's share of calls the surrogate answers once trained")
    ap.add_argument("--retrain-seconds", type=float, default=1.5,
                    help="the prediction's seconds of one retraining task")
    ap.add_argument("--cores", type=int, default=None,
                    help="cores of this machine to use (default: all it gives tandem)")
    return ap.parse_args(argv)


def platform_for(cores: int | None) -> tandem.Platform:
    """The allocation or this machine (:meth:`Platform.default`); ``cores``: that many of this
    machine's cores."""
    if cores is None:
        return tandem.Platform.default()
    here = sorted(c for n in tandem.Platform.local().nodes for c in n.cores)
    if not 1 <= cores <= len(here):
        raise ValueError(f"--cores: between 1 and {len(here)} here, got {cores}")
    return tandem.Platform.local(cores=here[:cores])


def compare(runs: dict[str, CampaignResult], cfg: Config) -> dict[str, Any]:
    """The summary of the runs (what :func:`main` prints and writes)."""
    out: dict[str, Any] = {"config": {
        "chains": cfg.chains, "steps": cfg.steps, "temperature_K": cfg.temperature,
        "basis": cfg.basis, "bound_mEh": cfg.bound, "audit_fraction": cfg.audit_fraction,
        "seed": cfg.seed}, "runs": {}}
    base = runs.get("real")
    base_obs = observables(base.chains) if base else None
    base_hist = angle_histogram(base.chains, ANGLE_BINS) if base else None
    for mode, r in runs.items():
        obs = observables(r.chains)
        calls = r.real_tasks + r.audit_tasks
        row: dict[str, Any] = {
            "wall_s": round(r.wall_s, 3), "closed_s": round(r.closed_s, 3),
            "samples": r.samples, "real_tasks": r.real_tasks, "audit_tasks": r.audit_tasks,
            "samples_per_real_call": round(r.samples / calls, 3) if calls else None,
            "acceptance": round(sum(c.acceptance for c in r.chains) / len(r.chains), 3),
            "observables": {k: {"mean": v.mean, "se": v.se} for k, v in obs.items()}}
        if base is not None and base_obs is not None and base_hist is not None and r is not base:
            row["speedup"] = round(base.wall_s / r.wall_s, 3) if r.wall_s > 0 else None
            row["speedup_closed"] = round(base.closed_s / r.closed_s, 3) if r.closed_s else None
            row["real_calls_saved"] = round(1 - calls / (base.real_tasks or 1), 3)
            row["vs_real"] = {k: _diff(obs[k].mean, obs[k].se, base_obs[k].mean,
                                       base_obs[k].se) for k in obs}
            hist = angle_histogram(r.chains, ANGLE_BINS)
            row["angle_overlap"] = round(sum(min(a, b) for a, b in zip(hist, base_hist,
                                                                       strict=True)), 4)
        if r.summary is not None:
            s = r.summary
            row["surrogate"] = {"share": round(s.share, 4), "audits": s.audits,
                                "audited_mean_error_mEh": s.mean_error,
                                "audited_max_error_mEh": s.max_error, "bound_mEh": s.bound,
                                "versions": s.versions, "retrains": s.retrains,
                                "threshold_final": s.thresholds[-1][1] if s.thresholds else None}
        out["runs"][mode] = row
    return out


def _diff(mean: float, se: float, base: float, base_se: float) -> dict[str, float]:
    both = math.hypot(se, base_se)
    return {"difference": mean - base, "in_se": (mean - base) / both if both > 0 else math.nan}


def show(summary: dict[str, Any]) -> str:
    """The printed table."""
    lines = []
    for mode, r in summary["runs"].items():
        o = r["observables"]
        lines.append(f"{mode:>9}: {r['wall_s']:8.2f} s  {r['samples']} samples  "
                     f"{r['real_tasks']} real + {r['audit_tasks']} audit calls  "
                     f"E {o['energy_mEh']['mean']:7.3f} ± {o['energy_mEh']['se']:.3f} mEh  "
                     f"r(OH) {o['bond_A']['mean']:.4f} ± {o['bond_A']['se']:.4f} Å  "
                     f"HOH {o['angle_deg']['mean']:6.2f} ± {o['angle_deg']['se']:.2f}°")
        if "predicted" in r:
            p = r["predicted"]
            lines.append(f"{'':>11}predicted {p['wall_s']:.2f} s ({100 * p['error']:+.1f} %), "
                         f"{p['real_tasks']} real + {p['audit_tasks']} audit calls")
        if "speedup" in r:
            v = r["vs_real"]
            lines.append(f"{'':>11}{r['speedup']:.2f}x faster sampling ({r['speedup_closed']:.2f}x "
                         f"to the session's end, audits included), "
                         f"{100 * r['real_calls_saved']:.0f} % "
                         f"fewer real calls; against all-real: E {v['energy_mEh']['in_se']:+.2f}, "
                         f"r {v['bond_A']['in_se']:+.2f}, angle {v['angle_deg']['in_se']:+.2f} "
                         f"standard errors; angle distribution overlap {r['angle_overlap']:.3f}")
        s = r.get("surrogate")
        if s:
            err = s["audited_mean_error_mEh"]
            lines.append(f"{'':>11}surrogate answered {100 * s['share']:.1f} %; audited mean "
                         f"error {'-' if err is None else f'{err:.4f}'} mEh (bound "
                         f"{s['bound_mEh']} mEh, {s['audits']} audits); "
                         f"{s['versions']} model versions")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    try:
        bad = [m for m in modes if m not in MODES]
        if bad or not modes:
            raise ValueError(f"--modes: {', '.join(bad) or 'none'} not among "
                             f"{', '.join(MODES)}")
        cfg = Config(chains=args.chains, steps=args.steps, temperature=args.temperature,
                     basis=args.basis, bound=args.bound, audit_fraction=args.audit_fraction,
                     min_pairs=args.min_pairs, retrain_every=args.retrain_every,
                     seed=args.seed, moves=Moves())
        platform = platform_for(args.cores)
    except (ValueError, tandem.TandemError) as e:
        print(f"abinitio: {e}", file=sys.stderr)
        return 2
    base = Path(args.run_dir)
    predicted: dict[str, Prediction] = {}
    if args.predict:
        try:
            costs = SurrogateCosts(real=1.0, hit_rate=args.hit_rate, retrain=args.retrain_seconds)
        except tandem.TandemError as e:
            print(f"abinitio: --hit-rate/--retrain-seconds: {e}", file=sys.stderr)
            return 2
        real_s = calibrate(cfg, platform, base / "calibration")
        for p in predict(cfg, platform, real_s, hit_rate=costs.hit_rate,
                         retrain=costs.retrain):
            predicted[p.mode] = p
            print(f"predicted {p.mode}: {p.wall_s:.2f} s, {p.real_tasks} real + "
                  f"{p.audit_tasks} audit calls (one real call {real_s:.3f} s, hit rate "
                  f"{costs.hit_rate:g}, retraining {costs.retrain:g} s)")
    runs: dict[str, CampaignResult] = {}
    for mode in modes:
        print(f"{mode}: {cfg.chains} chains x {cfg.steps} steps, HF/{cfg.basis}, "
              f"{cfg.temperature:g} K ...", flush=True)
        runs[mode] = asyncio.run(run_campaign(cfg, mode, base / mode, platform))
    summary = compare(runs, cfg)
    for mode, p in predicted.items():
        row = summary["runs"].get(mode)
        if row is not None:
            row["predicted"] = {"wall_s": round(p.wall_s, 3), "real_tasks": p.real_tasks,
                                "audit_tasks": p.audit_tasks,
                                "error": round(p.wall_s / row["wall_s"] - 1, 4)}
    print(show(summary))
    base.mkdir(parents=True, exist_ok=True)
    (base / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"summary: {base / 'summary.json'}")
    return 0
