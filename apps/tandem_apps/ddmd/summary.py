"""The end-of-campaign summary: makespans, predicted before the run beside measured, effectiveness.

Contract: :func:`summarize` gathers the numbers of finished runs, and the prediction made
before they ran (:mod:`tandem_apps.ddmd.predict`), into one JSON-ready dict (written to
``summary.json``); :func:`render` turns it into the text printed at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tandem import Platform
from tandem.model.utilisation import makespan, utilisation_over
from tandem.trace.records import load_trace
from tandem_apps.ddmd.campaign import CampaignRun, stage_medians
from tandem_apps.ddmd.config import CampaignConfig
from tandem_apps.ddmd.fsio import FileIO
from tandem_apps.ddmd.predict import Prediction
from tandem_apps.ddmd.science import Effectiveness, effectiveness, frames


def improvement(t_sync: float, t_async: float) -> float:
    """The papers' I = (T_sync - T_async) / T_sync."""
    return (t_sync - t_async) / t_sync if t_sync > 0 else 0.0


def predicted(p: Prediction) -> dict[str, Any]:
    """What was predicted before the run, JSON-ready."""
    out: dict[str, Any] = {
        "made": "before the run: the campaign driver on tandem's virtual time",
        "makespan_s": {m: round(r.makespan, 2) for m, r in p.runs.items()},
        "segments": {m: len(r.segments) for m, r in p.runs.items()},
        "durations_from": p.sources,
        "stage_model": {k: round(v, 6) for k, v in dataclasses.asdict(p.model).items()}}
    if p.improvement is not None:
        out["I"] = round(p.improvement, 4)
    return out


def errors(pred: dict[str, Any], runs: Sequence[CampaignRun],
           i_measured: float | None) -> dict[str, Any]:
    """Relative error of each predicted makespan ((predicted - measured) / measured) and the
    error of I in percentage points."""
    out: dict[str, Any] = {"makespan": {}}
    for run in runs:
        p = pred["makespan_s"].get(run.mode)
        if p is not None and run.makespan > 0 and run.mode != "plain-md":
            out["makespan"][run.mode] = round((p - run.makespan) / run.makespan, 4)
    if i_measured is not None and "I" in pred:
        out["I_points"] = round(100 * (pred["I"] - i_measured), 2)
    return out


def _eff(e: Effectiveness) -> dict[str, Any]:
    def r(x: float | None, n: int = 2) -> float | None:
        return None if x is None else round(x, n)
    return {"makespan_s": r(e.makespan), "core_hours": r(e.core_hours, 4),
            "simulated_ns": r(e.simulated_ns, 3), "best_rmsd_A": r(e.best_rmsd),
            "best_rmsd_within_common_time_A": r(e.best_rmsd_common),
            "time_to_target_s": r(e.time_to_target), "max_fnc": r(e.max_fnc, 3)}


def data_flow(run: CampaignRun) -> dict[str, Any]:
    """How a campaign's stages handed each other data: the bytes their threads read and wrote
    through the filesystem (per stage and in all, measured: :mod:`.fsio`) and the bytes tandem
    kept for them by reference in shared memory, and the size of tandem's journal."""
    total = FileIO()
    for io in run.io.values():
        total = total + io
    return {"data": run.data,
            "filesystem_bytes": {"read": total.read, "written": total.written,
                                 "by_stage": {k: v.to_dict() for k, v in run.io.items()}},
            "kept_in_memory_bytes": {"total": sum(run.kept.values()), **run.kept},
            "tandem_journal_bytes": run.journal}


def summarize(cfg: CampaignConfig, platform: Platform, campaigns: Sequence[CampaignRun],
              baseline: CampaignRun | None, prediction: Prediction | None = None,
              replayed: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Every number of the summary, JSON-ready; ``replayed``: each mode's makespan on virtual
    time with its tasks' measured durations (:func:`tandem_apps.ddmd.predict.replay`)."""
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
        if run in campaigns:
            out["runs"][run.mode].update(data_flow(run))
    if "sync" in by_mode and "async" in by_mode:
        out["I_measured"] = round(improvement(by_mode["sync"].makespan,
                                              by_mode["async"].makespan), 4)
    if prediction is not None:
        out["prediction"] = predicted(prediction)
        out["prediction"]["error"] = errors(out["prediction"], runs, out.get("I_measured"))
    if replayed:
        out["replayed"] = {m: {"makespan_s": round(v, 2), "error": round(
            (v - by_mode[m].makespan) / by_mode[m].makespan, 4)} for m, v in replayed.items()
            if m in by_mode and by_mode[m].makespan > 0}
    if baseline is not None:
        out["baseline_budget_s"] = baseline.horizon
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
        if "filesystem_bytes" in r:
            fs, kept = r["filesystem_bytes"], r["kept_in_memory_bytes"]["total"]
            lines.append(
                f"  {mode}: makespan {r['effective']['makespan_s']:.1f} s, data through "
                f"{r['data']}: the stages read {_mb(fs['read'])} and wrote "
                f"{_mb(fs['written'])} through the filesystem; {_mb(kept)} kept in memory")
    for mode, r in s["runs"].items():
        if r["stuck_segments_ended"]:
            lines.append(f"  {mode}: {len(r['stuck_segments_ended'])} segments of stuck "
                         f"lineages ended and restarted from outliers")
    for mode, r in s["runs"].items():
        med = ", ".join(f"{k} {v:.2f} s" for k, v in r["stage_median_s"].items())
        lines.append(f"  {mode} stage medians: {med}")
    p = s.get("prediction")
    if p is not None:
        lines.append("  predicted before the run (the campaign driver on virtual time; "
                     f"durations from {_sources(p['durations_from'])}):")
        for mode, r in s["runs"].items():
            if mode not in p["makespan_s"]:
                continue
            err = p["error"]["makespan"].get(mode)
            what = (f"error {err:+.1%}" if err is not None else
                    f"{p['segments'][mode]} segments predicted, {r['segments']} ran")
            lines.append(f"    {mode:<9} predicted {p['makespan_s'][mode]:.1f} s, measured "
                         f"{r['effective']['makespan_s']:.1f} s ({what})")
    for mode, r in s.get("replayed", {}).items():
        lines.append(f"    {mode:<9} replayed with its tasks' measured durations: "
                     f"{r['makespan_s']:.1f} s (error {r['error']:+.1%}: the driver's model "
                     "itself)")
    if "I_measured" in s:
        line = f"  I = (T_sync - T_async) / T_sync: measured {s['I_measured']:.1%}"
        if p is not None and "I" in p:
            line += (f", predicted {p['I']:.1%} ({p['error']['I_points']:+.1f} points)")
        lines.append(line)
    if "baseline_budget_s" in s:
        lines.append(f"  plain MD stopped at the budget of {s['baseline_budget_s']:.1f} s (the "
                     "longest campaign's makespan); frames after it do not count")
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:.3f} MB"


def _sources(used: dict[str, dict[str, int]]) -> str:
    total: dict[str, int] = {}
    for per in used.values():
        for source, n in per.items():
            total[source] = total.get(source, 0) + n
    return ", ".join(f"{k} for {n} tasks" for k, n in sorted(total.items())) or "nothing"
