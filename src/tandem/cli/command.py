"""The ``tandem`` command line. Thin: it calls the public API and prints.

Contract: argument parsing and printing only; all behaviour lives in the library
(:mod:`tandem.config` loads workflows, :mod:`tandem.model` and :mod:`tandem.sim` predict,
:mod:`tandem.runtime.workflow` runs). A :class:`~tandem.errors.TandemError` prints
``tandem: error: ...`` and exits 2, never with a traceback. Commands::

    tandem platform [--virtual-gpus N] [--json]
    tandem validate WF
    tandem predict WF [--mode async|barrier|both] [--nodes N] [--cores-per-node C]
                      [--gpus-per-node G] [--seeds N] [--json] [--from-trace RUN_DIR]
                      [--what-if-nodes 4,8,16 --deadline S] [--walltime S [--restart]]
                      [--history DIR]
    tandem run WF [--mode async|barrier] [--time-scale S] [--run-dir DIR | --resume DIR]
                  [--seed N] [--json] [--walltime S]
    tandem journal RUN_DIR [--json]
    tandem history [DIR] [--json] [--clear]
    tandem trace export RUN_DIR --perfetto [-o OUT]
    tandem trace summary RUN_DIR [--json]
    tandem report RUN_DIR [--compare OTHER] [-o OUT.html] [--png]
Imports: tandem.config, tandem.errors, tandem.history.summary, tandem.journal.summary,
tandem.model,
tandem.model.utilisation, tandem.runtime.workflow, tandem.sim, tandem.sim.walltime,
tandem.spec.platform, tandem.spec.workflow, tandem.trace, tandem.version.

Exit status: 0 when every task succeeded; 1 when a task failed; 2 on an error (bad input);
3 (``tandem run --walltime``) when the walltime ended with tasks left and none failed: run it
again with ``--resume RUN_DIR`` to continue; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

from tandem.errors import SpecError, TandemError
from tandem.spec.platform import Platform
from tandem.spec.workflow import Workflow
from tandem.version import __version__


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


def _load(path: str) -> Workflow:
    from tandem.config import load_workflow

    return load_workflow(path)


def _validate(args: argparse.Namespace) -> int:
    wf = _load(args.workflow)
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


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)
                if f.name != "records"}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | int | str | bool) or x is None:
        return x
    return str(x)


def _predict(args: argparse.Namespace) -> int:
    from tandem.model import analyze
    from tandem.sim import calibrate, predict, what_if

    wf = _with_platform(_load(args.workflow), args)
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
        "bounds": _jsonable(report.bounds),
        "t_seq_waves": report.t_seq_waves, "t_async_waves": report.t_async_waves,
        "doa_struct": report.doa_struct, "levels": _jsonable(report.levels),
        "calibrated_from": args.from_trace, "seeds": args.seeds,
        "simulated": {m: {"p50": p.p50, "p95": p.p95, "mean": p.mean,
                          "utilisation": _jsonable(p.utilisation)} for m, p in sims.items()},
    }
    if len(sims) == 2:
        out["simulated_improvement"] = 1 - sims["async"].p50 / sims["barrier"].p50 \
            if sims["barrier"].p50 > 0 else 0.0
    if whatif is not None:
        out["what_if"] = _jsonable(whatif)
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
        out["walltime"] = {**_jsonable(wt), "fraction_done": wt.fraction_done,
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


def _journal(args: argparse.Namespace) -> int:
    from tandem.journal.summary import read_journal, render

    summary = read_journal(args.run_dir)
    print(json.dumps(summary.as_json()) if args.json else render(summary))
    return 0


def _history(args: argparse.Namespace) -> int:
    from tandem.history.summary import main as history

    return history(args.dir, as_json=args.json, clear=args.clear)


def _run(args: argparse.Namespace) -> int:
    from tandem.runtime.workflow import run_workflow
    from tandem.trace.progress import Progress

    wf = _load(args.workflow)
    progress = None if args.json or args.no_progress else Progress(sys.stderr)
    if args.resume is not None and args.run_dir is not None:
        raise SpecError("run: give --resume DIR or --run-dir DIR, not both (--resume runs in DIR)")
    muted = logging.getLogger("tandem.walltime")   # its summary is printed below, once
    level, muted.level = muted.level, logging.ERROR
    try:
        result = run_workflow(wf, mode=args.mode, time_scale=args.time_scale,
                              run_dir=args.resume or args.run_dir, seed=args.seed,
                              progress=progress, resume=args.resume is not None,
                              walltime=args.walltime)
    finally:
        muted.level = level
    try:
        from tandem.model import utilisation

        used = utilisation(result.records, wf.platform)
    except ImportError:   # pragma: no cover - the model package is optional here
        used = {}
    if not wf.platform.total_gpus:
        used.pop("gpus", None)
    left = result.left_by_walltime
    left_ids = {r.task_id for r in left}
    failed = [r for r in result.failed if r.task_id not in left_ids]
    predicted = _predicted(wf, args.seed, result.mode, result.time_scale)
    if args.json:
        print(json.dumps({"workflow": result.workflow, "mode": result.mode,
                          "time_scale": result.time_scale, "makespan": result.makespan,
                          "predicted": predicted, "tasks": len(result.records),
                          "failed": len(failed), "utilisation": used,
                          "run_dir": str(result.run_dir),
                          "walltime": _jsonable(result.walltime)}))
    else:
        u = ", ".join(f"U_{k} {v:.1%}" for k, v in used.items())
        print(f"{result.workflow} ({result.mode}, time scale {result.time_scale:g}): "
              f"{len(result.records)} tasks, makespan {result.makespan:.3f} s "
              f"(first start to last end){'; ' + u if u else ''}")
        if predicted:
            print(f"simulator: {predicted:.3f} s for the same durations "
                  f"(measured {result.makespan / predicted - 1:+.1%})")
        print(f"run directory: {result.run_dir} (trace.jsonl, summary.json)")
        for r in failed[:10]:
            why = r.failure.message if r.failure is not None else r.state.value
            print(f"  {r.name}: {r.state.value}: {why}")
        if result.walltime is not None:
            print(f"walltime: {result.walltime.describe()}")
    if failed:
        print(f"tandem: {len(failed)} of {len(result.records)} tasks did not succeed",
              file=sys.stderr)
        return 1
    if left:
        print(f"tandem: the walltime ended with {len(left)} of {len(result.records)} tasks "
              f"left; continue with: tandem run {args.workflow} --resume {result.run_dir} "
              f"--walltime S", file=sys.stderr)
        return EXIT_WALLTIME
    return 0


EXIT_WALLTIME = 3
"""``tandem run``'s exit status when the walltime ended with tasks left (none failed)."""


def _predicted(wf: Workflow, seed: int, mode: str, time_scale: float) -> float | None:
    """The simulator's makespan for the run's draws, when every set has a duration."""
    if any(s.duration is None for s in wf.task_sets):
        return None
    from tandem.sim import predict

    scaled = dataclasses.replace(wf, time_scale=time_scale)
    return predict(scaled, mode=mode, seeds=[seed], keep_records=False).p50


def _trace_export(args: argparse.Namespace) -> int:
    from tandem.trace.perfetto import export_perfetto

    if not args.perfetto:
        raise SpecError("tandem trace export: choose a format (--perfetto)")
    out = export_perfetto(args.run_dir, args.output)
    print(f"wrote {out} (open it in https://ui.perfetto.dev)")
    return 0


def _trace_summary(args: argparse.Namespace) -> int:
    from tandem.trace.metrics import render_summary, summarize
    from tandem.trace.records import load_trace

    run = load_trace(args.run_dir)
    m = summarize(run)
    if args.json:
        print(json.dumps(_jsonable(m), indent=1))
    else:
        print(render_summary(run, m))
    return 0


def _report(args: argparse.Namespace) -> int:
    from tandem.trace.report import write_report

    written = write_report(args.run_dir, compare=args.compare, out=args.output, png=args.png)
    print(f"wrote {written.html}" + "".join(f"\nwrote {p}" for p in written.pngs))
    return 0


def _node_list(text: str) -> list[int]:
    try:
        nodes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected node counts like 4,8,16, got {text!r}") \
            from None
    if not nodes or any(n < 1 for n in nodes):
        raise argparse.ArgumentTypeError(f"node counts must be >= 1, got {text!r}")
    return nodes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("platform", help="show the cores and GPUs tandem detects here")
    p.add_argument("--virtual-gpus", type=int, default=0,
                   help="declare N GPUs on a machine without one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_platform)
    p = sub.add_parser("validate", help="check a YAML workflow and read_journal it")
    p.add_argument("workflow", metavar="WF", help="a YAML workflow file")
    p.set_defaults(fn=_validate)
    p = sub.add_parser("predict", help="model and simulate a workflow in both modes")
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
    p = sub.add_parser("run", help="run a workflow on this machine (mock tasks as timers)")
    p.add_argument("workflow", metavar="WF", help="a YAML workflow file")
    p.add_argument("--mode", choices=("async", "barrier"), default=None,
                   help="default: the workflow's mode")
    p.add_argument("--time-scale", type=float, metavar="S",
                   help="multiply every duration by S instead of the workflow's time_scale")
    p.add_argument("--run-dir", metavar="DIR", help="default: runs/<name>-<mode>-<time>")
    p.add_argument("--seed", type=int, default=0, help="seed of the duration draws")
    p.add_argument("--walltime", type=float, metavar="S",
                   help="seconds the run may take: start no task that cannot finish, preempt "
                        "what runs S minus the grace, exit 3 with what is left")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the campaign of run directory DIR: tasks its journal "
                        "finished are not run again")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no live progress on stderr (a table on a terminal, plain lines else)")
    p.set_defaults(fn=_run)
    p = sub.add_parser("journal", help="what a campaign's journal holds: finished, failed, "
                                       "in flight")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with a journal")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=_journal)
    p = sub.add_parser("history", help="what the task history knows: keys, durations, models "
                                       "and their held-out error")
    p.add_argument("dir", metavar="DIR", nargs="?",
                   help="default: $TANDEM_HISTORY, else ~/.local/share/tandem/history")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--clear", action="store_true", help="remove the history's file")
    p.set_defaults(fn=_history)
    p = sub.add_parser("trace", help="read_journal or export a run's trace")
    tsub = p.add_subparsers(dest="trace_command", required=True)
    t = tsub.add_parser("export", help="export the trace for a viewer")
    t.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (or its trace.jsonl)")
    t.add_argument("--perfetto", action="store_true",
                   help="Chrome / Perfetto trace-event JSON")
    t.add_argument("-o", "--output", metavar="OUT",
                   help="default: RUN_DIR/trace.perfetto.json")
    t.set_defaults(fn=_trace_export)
    t = tsub.add_parser("summary", help="makespan, utilisation, latencies, critical path")
    t.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (or its trace.jsonl)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(fn=_trace_summary)
    p = sub.add_parser("report", help="one self-contained HTML page: timeline, utilisation, "
                                      "per-kind table, latencies, critical path")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (or its trace.jsonl)")
    p.add_argument("--compare", metavar="OTHER",
                   help="the reference run directory (another run, or a simulator's)")
    p.add_argument("-o", "--output", metavar="OUT.html", help="default: RUN_DIR/report.html")
    p.add_argument("--png", action="store_true",
                   help="also write the figures as PNG in RUN_DIR/report/")
    p.set_defaults(fn=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except TandemError as e:
        print(f"tandem: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tandem: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
