"""``python -m tandem_apps.ddmd``: run DeepDriveMD sync and async, plain MD, and compare.

Contract: :func:`main` parses options over the configuration file, prepares the peptide once,
**predicts** each mode and the baseline before running anything (the campaign driver on
tandem's virtual time, durations from the task history or a short calibration:
:mod:`tandem_apps.ddmd.predict`) and prints the prediction, runs each configured mode (then
the plain-MD baseline, stopped at the longest campaign's makespan), writes per run the tandem
trace and report, the science figures, ``summary.json``, and prints the summary with measured
beside predicted. ``--mock`` runs the same campaign driver with sleeping stages (durations
from the ``mock`` section, :func:`tandem_apps.ddmd.mock.sleeping_stages`), predicted the same
way from those durations, without OpenMM or torch. ``--in-memory`` (``data: memory``) passes every
hand-off between stages by reference instead of through files, and ``--data stream`` also
streams each segment's frames to its round's aggregation while it runs; the summary prints
each campaign's filesystem bytes beside its makespan in every mode. A bad option or configuration
prints one line naming the key and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from tandem import Platform
from tandem.errors import TandemError
from tandem.runtime.open import default_run_dir
from tandem_apps.ddmd.config import CampaignConfig, ConfigError, load_config

_OVERRIDES = {
    "iterations": ("iterations",), "simulations": ("simulations",), "cores": ("cores",),
    "segment_ps": ("md", "segment_ps"), "epochs": ("training", "epochs"),
    "initial_epochs": ("training", "initial_epochs"), "seed": ("seed",),
    "max_staleness": ("max_staleness",), "target_rmsd": ("target_rmsd",),
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m tandem_apps.ddmd",
        description="DeepDriveMD on tandem: OpenMM segments of a peptide, steered by a CVAE "
                    "and LOF outliers, run synchronously and asynchronously, against plain MD.")
    ap.add_argument("--config", help="YAML configuration (see docs/ddmd.md); options below "
                    "override it")
    ap.add_argument("--iterations", type=int, help="segments per lineage = ML rounds")
    ap.add_argument("--simulations", type=int, help="concurrent simulation lineages")
    ap.add_argument("--segment-ps", type=float, help="picoseconds of MD per segment")
    ap.add_argument("--epochs", type=int, help="training epochs per round (after the first)")
    ap.add_argument("--initial-epochs", type=int, help="training epochs of the first round")
    ap.add_argument("--max-staleness", type=int, help="async: rounds a segment may run ahead")
    ap.add_argument("--target-rmsd", type=float, help="Å, for time-to-target")
    ap.add_argument("--cores", type=int, help="cores to use (default: all this process has)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--modes", help="comma-separated: sync,async (default both)")
    ap.add_argument("--data", choices=("files", "memory", "stream"),
                    help="how stages hand each other data (default files; stream: as memory, "
                    "with each segment streaming its frames to aggregation while it runs)")
    ap.add_argument("--in-memory", action="store_true", help="the same as --data memory")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain-MD baseline")
    ap.add_argument("--kill-stuck", action="store_true",
                    help="restart lineages stuck in a basin from outliers")
    ap.add_argument("--mock", action="store_true",
                    help="sleep-based stages (no OpenMM/torch): run and predict the shape")
    ap.add_argument("--run-dir", help="where to write (default: a new runs/ddmd-... dir)")
    return ap


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The command-line options as a nested configuration dict."""
    out: dict[str, Any] = {}
    for opt, path in _OVERRIDES.items():
        value = getattr(args, opt)
        if value is None:
            continue
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    if args.modes:
        out["modes"] = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.data:
        out["data"] = args.data
    if args.in_memory:
        out["data"] = "memory"
    if args.no_baseline:
        out["baseline"] = False
    if args.kill_stuck:
        out["stuck"] = {"enabled": True}
    return out


def platform_for(cfg: CampaignConfig) -> Platform:
    """Where the campaign runs: the Slurm allocation it was started in, else this machine
    (:meth:`Platform.default`); ``cfg.cores`` restricts this machine to that many cores."""
    if cfg.cores is None:
        return Platform.default()
    here = Platform.local()
    cores = sorted(c for n in here.nodes for c in n.cores)
    if cfg.cores > len(cores):
        raise ConfigError(f"cores: {cfg.cores} asked, this process may use {len(cores)}")
    return Platform.local(cores=cores[:cfg.cores])


def run_mock(cfg: CampaignConfig, platform: Platform, base: Path) -> dict[str, Any]:
    """The campaign driver with sleeping stages, beside its prediction on virtual time (the
    same driver and stages, durations from the ``mock`` section)."""
    from tandem.trace.report import write_report
    from tandem_apps.ddmd.campaign import run_campaign
    from tandem_apps.ddmd.mock import sleeping_stages
    from tandem_apps.ddmd.predict import StageDurations, StageModel, predict_campaign
    from tandem_apps.ddmd.stages import Prepared
    from tandem_apps.ddmd.summary import improvement

    m = cfg.mock
    fns = sleeping_stages(m)
    durations = StageDurations(StageModel.fixed(m.simulation, m.aggregation, m.training,
                                                m.agent))
    prepared = Prepared(initial_pdb=str(base / "system" / "initial.pdb"),
                        target_pdb=str(base / "system" / "target.pdb"), sequence=cfg.sequence)
    out: dict[str, Any] = {"measured_s": {}, "predicted_s": {}}
    for mode in cfg.modes:
        pred = predict_campaign(cfg, mode, platform, prepared, durations,
                                base / f"predicted-{mode}", functions=fns)
        out["predicted_s"][mode] = round(pred.makespan, 3)
    print(f"predicted (the campaign driver on virtual time): {out['predicted_s']}", flush=True)
    for mode in cfg.modes:
        run = asyncio.run(run_campaign(cfg, mode, base / mode, platform, prepared,
                                       functions=fns))
        out["measured_s"][mode] = round(run.makespan, 3)
        write_report(base / mode, compare=base / f"predicted-{mode}")
    if len(out["measured_s"]) == 2:
        write_report(base / "async", compare=base / "sync", out=base / "async_vs_sync.html")
    ms, ps = out["measured_s"], out["predicted_s"]
    out["error"] = {k: round((ps[k] - v) / v, 4) for k, v in ms.items() if v > 0}
    if "sync" in ms and "async" in ms:
        out["I_measured"] = round(improvement(ms["sync"], ms["async"]), 4)
        out["I_predicted"] = round(improvement(ps["sync"], ps["async"]), 4)
    return out


def predict_first(cfg: CampaignConfig, platform: Platform, base: Path,
                  prepared: Any) -> Any:
    """The prediction before the run: from the task history where it knows the same work,
    else from a short calibration (run only then)."""
    from tandem_apps.ddmd.predict import StageModel, calibrate, predict

    m = cfg.mock
    pred = predict(cfg, platform, prepared, base, StageModel.fixed(
        m.simulation, m.aggregation, m.training, m.agent), trace=False)
    if any("calibration" in per for per in pred.sources.values()):
        t = time.monotonic()
        model = calibrate(cfg, platform, prepared, base / "calibration")
        print(f"calibrated the stages in {time.monotonic() - t:.1f} s (a short segment, "
              f"two aggregations, 1 + 4 training epochs, two agent runs)", flush=True)
        pred = predict(cfg, platform, prepared, base, model)
    spans = ", ".join(f"{k} {v:.1f} s" for k, v in pred.makespans.items())
    line = f"predicted before running (the campaign driver on virtual time): {spans}"
    if pred.improvement is not None:
        line += f"; I = {pred.improvement:.1%}"
    print(line, flush=True)
    return pred


def run_real(cfg: CampaignConfig, platform: Platform, base: Path) -> dict[str, Any]:
    """The prediction, both campaigns, the baseline, figures, reports and the summary."""
    from tandem_apps.ddmd import figures, stages
    from tandem_apps.ddmd.baseline import run_baseline
    from tandem_apps.ddmd.campaign import CampaignRun, run_campaign, stage_medians
    from tandem_apps.ddmd.predict import replay
    from tandem_apps.ddmd.science import frames
    from tandem_apps.ddmd.summary import summarize

    t = time.monotonic()
    prepared = stages.prepare(str(base / "system"), cfg.sequence)
    print(f"prepared {cfg.sequence} (extended start, α-helix target) in "
          f"{time.monotonic() - t:.1f} s", flush=True)
    pred = predict_first(cfg, platform, base, prepared)
    campaigns: list[CampaignRun] = []
    for mode in cfg.modes:
        print(f"running DeepDriveMD {mode}: {cfg.simulations} lineages x {cfg.iterations} "
              f"segments of {cfg.md.segment_ps:g} ps, data through {cfg.data} ...", flush=True)
        run = asyncio.run(run_campaign(cfg, mode, base / mode, platform, prepared))
        campaigns.append(run)
        print(f"  {mode}: makespan {run.makespan:.1f} s (predicted "
              f"{pred.makespans[mode]:.1f} s)", flush=True)
    baseline = None
    if cfg.baseline and campaigns:
        budget = max(r.makespan for r in campaigns)
        print(f"running plain MD (no steering) for {budget:.0f} s ...", flush=True)
        baseline = asyncio.run(run_baseline(
            cfg, base / "plain-md", platform, prepared, budget,
            estimate=stage_medians(campaigns).get("simulation")))
    runs = [*campaigns, *([baseline] if baseline else [])]
    figures.rmsd_over_time([(r, frames(r)) for r in runs], cfg.target_rmsd,
                           base / "rmsd_over_time.png")
    figures.latent_space(campaigns, base / "latent_space.png")
    replayed: dict[str, float] = {
        mode: replay(cfg, mode, platform, prepared, base / mode).makespan
        for mode in cfg.modes}
    summary = summarize(cfg, platform, campaigns, baseline, pred, replayed)
    _reports(runs, base)
    return summary


def _reports(runs: list[Any], base: Path) -> None:
    """tandem's report of every run beside its prediction (timeline, utilisation, PNGs), and
    async against sync."""
    from tandem.trace.report import write_report

    for run in runs:
        pred = base / f"predicted-{run.mode}"
        write_report(run.run_dir, compare=pred if pred.exists() else None, png=True)
    if (base / "sync").exists() and (base / "async").exists():
        write_report(base / "async", compare=base / "sync", out=base / "async_vs_sync.html")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = load_config(args.config, overrides(args))
        platform = platform_for(cfg)
    except (ConfigError, TandemError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = Path(args.run_dir) if args.run_dir else default_run_dir("ddmd")
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    if args.mock:
        out = run_mock(cfg, platform, base)
        (base / "summary.json").write_text(json.dumps(out, indent=2))
        print(json.dumps(out, indent=2))
        return 0
    from tandem_apps.ddmd.summary import render

    summary = run_real(cfg, platform, base)
    (base / "summary.json").write_text(json.dumps(summary, indent=2))
    print(render(summary))
    print(f"run directory: {base} (summary.json, rmsd_over_time.png, latent_space.png, "
          f"<mode>/trace.jsonl and report.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
