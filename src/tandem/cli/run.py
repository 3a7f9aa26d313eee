"""Commands that run a workflow and read what its campaigns keep: ``tandem run``, ``journal`` and
``history``.

Contract: parse these commands' options, call the library, print. ``run`` runs a workflow on
this machine (:mod:`tandem.runtime.workflow`) and prints its makespan beside the simulator's
for the same durations; it exits 1 when a task failed and :data:`EXIT_WALLTIME` when the
walltime ended with tasks left (none failed). ``journal`` reads a campaign's journal,
``history`` the task history.
Imports: tandem.cli.output, tandem.config, tandem.errors, tandem.history.summary,
tandem.journal.summary, tandem.model.utilisation, tandem.runtime.workflow, tandem.sim,
tandem.spec.workflow, tandem.trace.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable

from tandem.cli.output import jsonable
from tandem.errors import SpecError
from tandem.spec.workflow import Workflow

EXIT_WALLTIME = 3
"""``tandem run``'s exit status when the walltime ended with tasks left (none failed)."""


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``run``, ``journal`` and ``history`` with ``add`` (a subparsers' method)."""
    p = add("run", help="run a workflow on this machine (mock tasks as timers)")
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
    p = add("journal", help="what a campaign's journal holds: finished, failed, in flight")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with a journal")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=_journal)
    p = add("history", help="what the task history knows: keys, durations, models and their "
                            "held-out error")
    p.add_argument("dir", metavar="DIR", nargs="?",
                   help="default: $TANDEM_HISTORY, else ~/.local/share/tandem/history")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--clear", action="store_true", help="remove the history's file")
    p.set_defaults(fn=_history)


def _run(args: argparse.Namespace) -> int:
    from tandem.config import load_workflow
    from tandem.runtime.workflow import run_workflow
    from tandem.trace.progress import Progress

    wf = load_workflow(args.workflow)
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
                          "walltime": jsonable(result.walltime)}))
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


def _predicted(wf: Workflow, seed: int, mode: str, time_scale: float) -> float | None:
    """The simulator's makespan for the run's draws, when every set has a duration."""
    if any(s.duration is None for s in wf.task_sets):
        return None
    from tandem.sim import predict

    scaled = dataclasses.replace(wf, time_scale=time_scale)
    return predict(scaled, mode=mode, seeds=[seed], keep_records=False).p50


def _journal(args: argparse.Namespace) -> int:
    from tandem.journal.summary import read_journal, render

    summary = read_journal(args.run_dir)
    print(json.dumps(summary.as_json()) if args.json else render(summary))
    return 0


def _history(args: argparse.Namespace) -> int:
    from tandem.history.summary import main as history

    return history(args.dir, as_json=args.json, clear=args.clear)
