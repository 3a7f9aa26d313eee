"""The ``tandem`` command line, as a package: the entry point and the commands, grouped by what
they are about.

Contract: re-exports only. :mod:`tandem.cli.command` holds the parser and ``main`` (the
``tandem`` console script, ``tandem.cli:main``); :mod:`tandem.cli.plan` the commands about a
workflow before it runs; :mod:`tandem.cli.run` running one and what campaigns keep;
:mod:`tandem.cli.traces` reading a run's trace.
Imports: tandem.cli.command, tandem.cli.plan, tandem.cli.run.
"""

from tandem.cli.command import build_parser, main
from tandem.cli.plan import describe_platform
from tandem.cli.run import EXIT_WALLTIME

__all__ = ["EXIT_WALLTIME", "build_parser", "describe_platform", "main"]
