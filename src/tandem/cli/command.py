"""The ``tandem`` command line. Thin: it calls the public API and prints.

Contract: argument parsing and printing only; all behaviour lives in the library
(:mod:`tandem.config` loads workflows, :mod:`tandem.model` and :mod:`tandem.sim` predict,
:mod:`tandem.runtime.workflow` runs). This module builds the parser from the commands'
modules (:mod:`tandem.cli.plan`, :mod:`tandem.cli.run`, :mod:`tandem.cli.traces`, each adding
its own commands and options) and runs the one chosen. A :class:`~tandem.errors.TandemError`
prints ``tandem: error: ...`` and exits 2, never with a traceback. Commands::

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
Imports: tandem.cli.plan, tandem.cli.run, tandem.cli.traces, tandem.errors, tandem.version.

Exit status: 0 when every task succeeded; 1 when a task failed; 2 on an error (bad input);
3 (``tandem run --walltime``) when the walltime ended with tasks left and none failed: run it
again with ``--resume RUN_DIR`` to continue; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

from tandem.cli import plan, run, traces
from tandem.errors import TandemError
from tandem.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for commands in (plan, run, traces):
        commands.add_commands(sub.add_parser)
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
