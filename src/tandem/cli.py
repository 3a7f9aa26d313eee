"""The ``tandem`` command line. Thin: it calls the public API and prints.

Contract: argument parsing and printing only; all behaviour lives in the library.
"""

from __future__ import annotations

import argparse
import json
import sys

from tandem import __version__
from tandem.errors import TandemError
from tandem.spec.platform import Platform


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("platform", help="show the cores and GPUs tandem detects here")
    p.add_argument("--virtual-gpus", type=int, default=0,
                   help="declare N GPUs on a machine without one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_platform)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except TandemError as e:
        print(f"tandem: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
