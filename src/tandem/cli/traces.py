"""Commands that read a run's trace: ``tandem trace export``, ``trace summary`` and ``report``.

Contract: parse these commands' options, call :mod:`tandem.trace`, print what was written or
read. A run directory is a real run's or a simulated one's (``tandem predict --out``); both
have the same trace.
Imports: tandem.cli.output, tandem.errors, tandem.trace.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from tandem.cli.output import jsonable
from tandem.errors import SpecError


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``trace`` (``export``, ``summary``) and ``report`` with ``add`` (a subparsers'
    method)."""
    p = add("trace", help="read_journal or export a run's trace")
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
    p = add("report", help="one self-contained HTML page: timeline, utilisation, "
                           "per-kind table, latencies, critical path")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (or its trace.jsonl)")
    p.add_argument("--compare", metavar="OTHER",
                   help="the reference run directory (another run, or a simulator's)")
    p.add_argument("-o", "--output", metavar="OUT.html", help="default: RUN_DIR/report.html")
    p.add_argument("--png", action="store_true",
                   help="also write the figures as PNG in RUN_DIR/report/")
    p.set_defaults(fn=_report)


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
        print(json.dumps(jsonable(m), indent=1))
    else:
        print(render_summary(run, m))
    return 0


def _report(args: argparse.Namespace) -> int:
    from tandem.trace.report import write_report

    written = write_report(args.run_dir, compare=args.compare, out=args.output, png=args.png)
    print(f"wrote {written.html}" + "".join(f"\nwrote {p}" for p in written.pngs))
    return 0
