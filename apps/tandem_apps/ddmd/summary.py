"""The end-of-campaign summary: makespans, measured and predicted I, utilisation, effectiveness.

Contract: :func:`summarize` gathers the numbers of finished runs into one JSON-ready dict
(written to ``summary.json``); :func:`render` turns it into the text printed at the end. The
prediction uses tandem's own simulator on the campaign's graph
(:func:`tandem_apps.ddmd.shape.ddmd_workflow`) with the measured median duration of each stage:
``sync`` is that graph in ``barrier`` mode, ``async`` in ``async`` mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tandem import Duration, Platform
from tandem.model.utilisation import makespan, utilisation_over
from tandem.sim.predict import predict, simulate_to_run_dir
from tandem.trace.records import load_trace
from tandem_apps.ddmd.campaign import CampaignRun, stage_medians
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.science import Effectiveness, effectiveness, frames
from tandem_apps.ddmd.shape import STAGES, ddmd_workflow, workflow_yaml

_SIM_MODE = {"sync": "barrier", "async": "async"}


def improvement(t_sync: float, t_async: float) -> float:
    """The papers' I = (T_sync - T_async) / T_sync."""
    return (t_sync - t_async) / t_sync if t_sync > 0 else 0.0


def prediction(cfg: CampaignConfig, platform: Platform,
               medians: dict[str, dict[str, float]], out_dir: Path) -> dict[str, Any]:
    """Predicted makespan per mode and I, each mode from its own measured stage medians (as
    ``tandem predict --from-trace`` calibrates from a run); writes each graph as
    ``predicted-<mode>.yaml`` and each simulated run as ``predicted-<mode>/trace.jsonl``."""
    spans: dict[str, float] = {}
    for mode, med in medians.items():
        durations = {s: Duration(mean=med.get(s, getattr(cfg.mock, s))) for s in STAGES}
        wf = ddmd_workflow(cfg, platform, durations, name=f"ddmd-{mode}-measured")
        (out_dir / f"predicted-{mode}.yaml").write_text(workflow_yaml(wf))
        target = out_dir / f"predicted-{mode}"
        if (target / "trace.jsonl").exists():     # a run directory used before
            spans[mode] = predict(wf, mode=_SIM_MODE[mode], seeds=1).p50
        else:                                     # one simulation: the trace and the span
            spans[mode] = simulate_to_run_dir(wf, target, mode=_SIM_MODE[mode]).makespan
    out: dict[str, Any] = {
        "stage_median_s": {m: {k: round(v, 3) for k, v in med.items()}
                           for m, med in medians.items()},
        "makespan_s": {k: round(v, 2) for k, v in spans.items()}}
    if "sync" in spans and "async" in spans:
        out["I"] = round(improvement(spans["sync"], spans["async"]), 4)
    return out


def _eff(e: Effectiveness) -> dict[str, Any]:
    def r(x: float | None, n: int = 2) -> float | None:
        return None if x is None else round(x, n)
    return {"makespan_s": r(e.makespan), "core_hours": r(e.core_hours, 4),
            "simulated_ns": r(e.simulated_ns, 3), "best_rmsd_A": r(e.best_rmsd),
            "best_rmsd_within_common_time_A": r(e.best_rmsd_common),
            "time_to_target_s": r(e.time_to_target), "max_fnc": r(e.max_fnc, 3)}


def summarize(cfg: CampaignConfig, platform: Platform, campaigns: Sequence[CampaignRun],
              baseline: CampaignRun | None, out_dir: Path) -> dict[str, Any]:
    """Every number of the summary, JSON-ready."""
    runs = [*campaigns, *([baseline] if baseline is not None else [])]
    common = min(r.makespan for r in campaigns) if campaigns else 0.0
    cores = platform.total_cores
    out: dict[str, Any] = {"platform": {"cores": cores, "gpus": platform.total_gpus},
                           "config": cfg.model_dump(mode="json"), "runs": {}}
    by_mode = {r.mode: r for r in campaigns}
    for run in runs:
        trace = load_trace(run.run_dir)
        work = [t for t in trace.tasks if t.kind != "setup"]   # warm-up is not the campaign
        f = frames(run)
        out["runs"][run.mode] = {
            "run_dir": str(run.run_dir), "segments": len(run.segments),
            "ml_rounds": len(run.rounds),
            "restarts_used": sum(1 for s in run.segments if s.restart_round is not None),
            "stuck_segments_ended": [{"lineage": j, "segment": k, "at_s": round(t, 2),
                                      "why": why} for j, k, why, t in run.killed],
            "utilisation": {k: round(v, 4) for k, v in utilisation_over(
                work, {"cores": trace.total_cores, "gpus": trace.total_gpus},
                makespan(work)).items()},
            "stage_median_s": {k: round(v, 3) for k, v in stage_medians([run]).items()},
            "effective": _eff(effectiveness(run, f, cores, common, cfg.target_rmsd,
                                            cfg.md.segment_ps)),
        }
    if "sync" in by_mode and "async" in by_mode:
        out["I_measured"] = round(improvement(by_mode["sync"].makespan,
                                              by_mode["async"].makespan), 4)
    if campaigns:
        out["prediction"] = prediction(cfg, platform,
                                       {r.mode: stage_medians([r]) for r in campaigns}, out_dir)
    out["common_time_s"] = round(common, 2)
    out["target_rmsd_A"] = cfg.target_rmsd
    return out


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:.2f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def render(s: dict[str, Any]) -> str:
    """The summary as text (what the campaign prints at the end)."""
    lines = [f"DeepDriveMD on {s['platform']['cores']} cores, {s['platform']['gpus']} GPUs "
             f"(target RMSD {s['target_rmsd_A']} Å; common time {s['common_time_s']} s)"]
    head = (f"  {'run':<9}{'makespan':>10}{'segments':>9}{'restarts':>9}{'U cores':>9}"
            f"{'U gpus':>8}{'best Å':>8}{'best@common':>12}{'to target':>10}")
    lines.append(head)
    for mode, r in s["runs"].items():
        e, u = r["effective"], r["utilisation"]
        lines.append(
            f"  {mode:<9}{_fmt(e['makespan_s'], ' s'):>10}{r['segments']:>9}"
            f"{r['restarts_used']:>9}{u.get('cores', 0):>9.1%}{u.get('gpus', 0):>8.1%}"
            f"{_fmt(e['best_rmsd_A']):>8}{_fmt(e['best_rmsd_within_common_time_A']):>12}"
            f"{_fmt(e['time_to_target_s'], ' s'):>10}")
    for mode, r in s["runs"].items():
        if r["stuck_segments_ended"]:
            lines.append(f"  {mode}: {len(r['stuck_segments_ended'])} segments of stuck "
                         f"lineages ended and restarted from outliers")
    for mode, r in s["runs"].items():
        med = ", ".join(f"{k} {v:.2f} s" for k, v in r["stage_median_s"].items())
        lines.append(f"  {mode} stage medians: {med}")
    if "I_measured" in s:
        p = s.get("prediction", {})
        lines.append(f"  I = (T_sync - T_async) / T_sync: measured {s['I_measured']:.1%}, "
                     f"predicted {p.get('I', 0.0):.1%} (tandem's simulator on each mode's "
                     f"measured stage medians: sync {p['makespan_s']['sync']} s, async "
                     f"{p['makespan_s']['async']} s)")
    return "\n".join(lines)
