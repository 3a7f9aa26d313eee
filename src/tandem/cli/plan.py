"""Commands about a workflow before it runs: ``tandem platform``, ``validate`` and ``predict``.

Contract: parse these commands' options, call the library, print; nothing here runs a task.
``predict`` prints the analytic model (:mod:`tandem.model`) beside the simulator's
predictions (:mod:`tandem.sim`), optionally on other node counts, for a walltime, calibrated
from a past trace or from the task history.
Imports: tandem.cli.output, tandem.config, tandem.errors, tandem.model, tandem.sim,
tandem.spec.platform, tandem.spec.workflow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandem.cli.output import jsonable
from tandem.errors import SpecError
from tandem.spec.platform import Platform
from tandem.spec.workflow import Workflow


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``platform``, ``validate`` and ``predict`` with ``add`` (a subparsers' method)."""
    p = add("platform", help="show the cores and GPUs tandem detects here")
    p.add_argument("--virtual-gpus", type=int, default=0,
                   help="declare N GPUs on a machine without one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_platform)
    p = add("validate", help="check a YAML workflow and read_journal it")
    p.add_argument("workflow", metavar="WF", help="a YAML workflow file")
    p.set_defaults(fn=_validate)
    p = add("predict", help="model and simulate a workflow in both modes")
    p.add_argument("workflow", metavar="WF", help="a YAML workflow file")
    p.add_argument("--mode", choices=("async", "barrier", "both"), default="both")
    p.add_argument("--nodes", type=int, help="replace the platform: this many nodes")
    p.add_argument("--cores-per-node", type=int, metavar="C")
    p.add_argument("--gpus-per-node", type=int, metavar="G")
    p.add_argument("--seeds", type=int, default=20, help="simulations per mode (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--from-trace", metavar="RUN_DIR",
                   help="calibrate durations and overhead from a past run")
    p.add_argument("--what-if-nodes", type=_node_list, metavar="4,8,16",
                   help="also predict on these node counts")
    p.add_argument("--deadline", type=float, metavar="S",
                   help="with --what-if-nodes: the makespan to meet, in seconds")
    p.add_argument("--out", metavar="DIR",
                   help="also write the simulated run (seed 0) as a trace in DIR (DIR/<mode> "
                        "for both modes), for `tandem report --compare`")
    p.add_argument("--walltime", type=float, metavar="S",
                   help="also say how much finishes in allocations of S seconds, and how many "
                        "it needs")
    p.add_argument("--restart", action="store_true",
                   help="with --walltime: preempted tasks start again (default: they continue "
                        "from a perfect checkpoint)")
    p.add_argument("--history", metavar="DIR",
                   help="give task sets without a duration the durations their tasks had in "
                        "the task history in DIR")
    p.set_defaults(fn=_predict)


def describe_platform(p: Platform) -> str:
    """``16 nodes x 168 cores x 6 GPUs (2688 cores, 96 GPUs)`` for uniform nodes."""
    shapes = {(len(n.cores), len(n.gpus)) for n in p.nodes}
    if len(shapes) == 1 and p.name != "local":
        cores, gpus = shapes.pop()
        text = f"{len(p.nodes)} node{'s' if len(p.nodes) != 1 else ''} x {cores} cores"
        text += f" x {gpus} GPUs" if gpus else ", no GPU"
        if len(p.nodes) > 1:
            text += f" ({p.total_cores} cores, {p.total_gpus} GPUs in all)"
        return text
    return ("this machine: " if p.name == "local" else "") + p.describe()


def _platform(args: argparse.Namespace) -> int:
    p = Platform.local(virtual_gpus=args.virtual_gpus)
    if args.json:
        print(json.dumps({"nodes": [{"name": n.name, "cores": list(n.cores),
                                     "gpus": list(n.gpus), "memory_mb": n.memory_mb,
                                     "virtual_gpus": n.virtual_gpus} for n in p.nodes]}))
    else:
        for n in p.nodes:
            kind = " (virtual)" if n.virtual_gpus else ""
            print(f"{n.name}: cores {list(n.cores)}, GPUs {list(n.gpus)}{kind}, "
                  f"memory {n.memory_mb} MB")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from tandem.config import load_workflow

    wf = load_workflow(args.workflow)
    tasks = sum(s.count for s in wf.task_sets)
    mocks = sum(s.count for s in wf.task_sets if s.work is None)
    levels = {m: wf.levels(m) for m in ("barrier", "async")}
    n_levels = {m: max(lv.values()) + 1 for m, lv in levels.items()}
    groups = " ".join("{" + ", ".join(n for n, k in levels["barrier"].items() if k == i) + "}"
                      for i in range(n_levels["barrier"]))
    kinds = "all mock" if mocks == tasks else f"{mocks} mock, {tasks - mocks} real"
    text = (f"{args.workflow}: workflow {wf.name!r} is valid. {len(wf.task_sets)} task sets, "
            f"{tasks} tasks ({kinds}); {n_levels['barrier']} levels in barrier mode: {groups}")
    if n_levels["async"] != n_levels["barrier"] or levels["async"] != levels["barrier"]:
        text += f"; {n_levels['async']} levels with the async dependencies"
    text += (f". Default mode {wf.mode}, time scale {wf.time_scale:g}. "
             f"Platform: {describe_platform(wf.platform)}.")
    print(textwrap.fill(text, width=100))
    return 0


def _with_platform(wf: Workflow, args: argparse.Namespace) -> Workflow:
    if args.nodes is None and args.cores_per_node is None and args.gpus_per_node is None:
        return wf
    base = wf.platform.nodes[0]
    platform = Platform.uniform(
        args.nodes if args.nodes is not None else len(wf.platform.nodes),
        cores=args.cores_per_node if args.cores_per_node is not None else len(base.cores),
        gpus=args.gpus_per_node if args.gpus_per_node is not None else len(base.gpus),
        memory_mb=base.memory_mb)
    return dataclasses.replace(wf, platform=platform)


def _predict(args: argparse.Namespace) -> int:
    from tandem.config import load_workflow
    from tandem.model import analyze
    from tandem.sim import calibrate, predict, what_if

    wf = _with_platform(load_workflow(args.workflow), args)
    if args.seeds < 1:
        raise SpecError(f"--seeds must be >= 1, got {args.seeds}")
    if args.deadline is not None and args.what_if_nodes is None:
        raise SpecError("--deadline goes with --what-if-nodes")
    if args.history:
        from tandem.sim.calibrate import from_history

        wf = from_history(wf, args.history).apply(wf, missing_only=True)
    report = analyze(wf)
    calibration = calibrate(args.from_trace) if args.from_trace else None
    modes = ("barrier", "async") if args.mode == "both" else (args.mode,)
    sims = {m: predict(wf, mode=m, seeds=args.seeds, calibration=calibration) for m in modes}
    whatif = None
    if args.what_if_nodes is not None:
        whatif = what_if(wf, calibration, nodes=args.what_if_nodes, deadline=args.deadline,
                         mode=None if args.mode == "both" else args.mode, seeds=args.seeds)
    out: dict[str, Any] = {
        "workflow": wf.name, "platform": describe_platform(wf.platform),
        "t_seq": report.t_seq, "t_async": report.t_async, "improvement": report.improvement,
        "speedup": report.speedup, "lower_bound": report.lower_bound,
        "bounds": jsonable(report.bounds),
        "t_seq_waves": report.t_seq_waves, "t_async_waves": report.t_async_waves,
        "doa_struct": report.doa_struct, "levels": jsonable(report.levels),
        "calibrated_from": args.from_trace, "seeds": args.seeds,
        "simulated": {m: {"p50": p.p50, "p95": p.p95, "mean": p.mean,
                          "utilisation": jsonable(p.utilisation)} for m, p in sims.items()},
    }
    modelled = {m: p for m, p in sims.items() if p.without_surrogates is not None}
    if modelled:
        out["surrogates"] = {m: {
            "sets": {name: {**jsonable(c), "share": c.share} for name, c in p.surrogates.items()},
            "without_p50": p.without_surrogates,
            "speedup": p.without_surrogates / p.p50 if p.p50 > 0 else None,
        } for m, p in modelled.items() if p.without_surrogates is not None}
    if len(sims) == 2:
        out["simulated_improvement"] = 1 - sims["async"].p50 / sims["barrier"].p50 \
            if sims["barrier"].p50 > 0 else 0.0
    if whatif is not None:
        out["what_if"] = jsonable(whatif)
    if args.out:
        from tandem.sim.predict import simulate_to_run_dir

        written = {}
        for m in modes:
            target = Path(args.out) / m if len(modes) > 1 else Path(args.out)
            simulate_to_run_dir(wf, target, mode=m, calibration=calibration)
            written[m] = str(target)
        out["prediction_run_dirs"] = written
    if args.walltime is not None:
        from tandem.sim.walltime import predict_walltime

        wt = predict_walltime(wf, args.walltime, mode=None if args.mode == "both" else args.mode,
                              checkpoint=not args.restart)
        out["walltime"] = {**jsonable(wt), "fraction_done": wt.fraction_done,
                           "work_fraction": wt.work_fraction, "summary": wt.describe()}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        _print_prediction(out)
        if "walltime" in out:
            print(f"walltime ({wt.mode}, seed {wt.seed}): {out['walltime']['summary']}")
    return 0


def _print_prediction(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False)
    console.print(f"{out['workflow']} on {out['platform']}")
    model = Table(title="analytic model", title_justify="left")
    model.add_column("quantity")
    model.add_column("value", justify="right")
    model.add_row("T_seq (barrier)", f"{out['t_seq']:.1f} s")
    model.add_row("T_async", f"{out['t_async']:.1f} s")
    model.add_row("I = 1 - T_async/T_seq", f"{out['improvement']:.1%}")
    model.add_row("speed-up T_seq/T_async", f"{out['speedup']:.3f}")
    model.add_row("T_seq / T_async with waves",
                  f"{out['t_seq_waves']:.1f} / {out['t_async_waves']:.1f} s")
    model.add_row("lower bound", f"{out['lower_bound']:.1f} s")
    for name, value in out["bounds"].items():
        model.add_row(f"  bound: {name}", f"{value:.1f} s")
    model.add_row("DOA (structural)", f"{out['doa_struct']:.2f}")
    console.print(model)
    sims = out["simulated"]
    resources = sorted({k for s in sims.values() for k in s["utilisation"]})
    how = ", calibrated from " + out["calibrated_from"] if out["calibrated_from"] else ""
    table = Table(title=f"simulator ({out['seeds']} seeds{how})", title_justify="left")
    for col in ("mode", "p50", "p95", "mean", *(f"U_{r}" for r in resources)):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in sims.items():
        table.add_row(mode, f"{s['p50']:.1f} s", f"{s['p95']:.1f} s", f"{s['mean']:.1f} s",
                      *(f"{s['utilisation'].get(r, 0.0):.1%}" for r in resources))
    console.print(table)
    if "simulated_improvement" in out:
        console.print(f"simulated I (p50) = {out['simulated_improvement']:.1%}")
    for mode, sur in out.get("surrogates", {}).items():
        for name, c in sur["sets"].items():
            console.print(f"{mode}: surrogate of {name!r} answered {c['surrogate']} of "
                          f"{c['calls']} calls ({c['share']:.0%}); {c['real']} real, "
                          f"{c['audits']} audits, {c['retrains']} retrainings")
        speedup = sur["speedup"]
        console.print(f"{mode}: every call real, the simulator predicts "
                      f"{sur['without_p50']:.1f} s (p50): speed-up "
                      + (f"{speedup:.2f}x" if speedup is not None else "-")
                      + " (the analytic model above counts every call as real)")
    if "what_if" in out:
        _print_what_if(console, out["what_if"])
    for mode, where in out.get("prediction_run_dirs", {}).items():
        console.print(f"simulated {mode} run written to {where} (tandem report {where})")


def _print_what_if(console: Any, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="what if (times from submission)", title_justify="left")
    for col in ("nodes", "p50", "p95", "node-hours", "U_cores", "U_gpus", "deadline"):
        table.add_column(col, justify="right")
    for r in rows:
        meets = r.get("meets")
        verdict = "-" if meets is None else ("met" if meets else "missed")
        if r.get("chosen"):
            verdict += " (smallest)"
        u = r.get("utilisation") or {}
        table.add_row(str(r["nodes"]), f"{r['p50_from_submit']:.1f} s",
                      f"{r['p95_from_submit']:.1f} s", f"{r['node_hours']:.2f}",
                      f"{u.get('cores', 0.0):.1%}", f"{u.get('gpus', 0.0):.1%}", verdict)
    console.print(table)


def _node_list(text: str) -> list[int]:
    try:
        nodes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected node counts like 4,8,16, got {text!r}") \
            from None
    if not nodes or any(n < 1 for n in nodes):
        raise argparse.ArgumentTypeError(f"node counts must be >= 1, got {text!r}")
    return nodes
