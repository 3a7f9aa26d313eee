"""Which platforms the local backends can execute: only the node that is this machine.

Contract: one rule, shared by :class:`~tandem.backends.process.ProcessBackend` and
:class:`~tandem.backends.functions.FunctionBackend` (their ``Backend.unreachable``): a local
backend runs real processes here, so it executes a platform only when

- the platform has exactly one node (two nodes would put two tasks on the same real core while
  the core believes they are on different machines: oversubscription);
- every core id of that node is in this process's affinity mask (``sched_setaffinity`` could
  not pin a task to the others);
- every GPU id of that node exists here (``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``), unless
  the node declares its GPUs virtual (a laptop pretending to have one, for scheduling).

The node's name is not checked: ``Platform.uniform(1, cores=2)`` names it ``node0`` and is
still this machine when its cores are. Reads the machine (affinity mask, GPUs) on each call;
no state. Imports: tandem.spec.
"""

from __future__ import annotations

import os

from tandem.spec.platform import Platform, detect_gpus

_SHOWN = 8  # ids named in a message before "..."


def local_unreachable(platform: Platform) -> str | None:
    """Why ``platform``'s nodes are not this machine (a short phrase), or ``None`` if the
    platform is exactly one node whose cores and GPUs exist here."""
    if len(platform.nodes) != 1:
        return f"it has {len(platform.nodes)} nodes and this machine is one"
    node = platform.nodes[0]
    missing = sorted(set(node.cores) - os.sched_getaffinity(0))
    if missing:
        return f"cores {_ids(missing)} of node {node.name!r} are not available to this process"
    if node.gpus and not node.virtual_gpus:
        here = set(detect_gpus())
        absent = [g for g in node.gpus if g not in here]
        if absent:
            return (f"GPUs {_ids(absent)} of node {node.name!r} do not exist here (declare "
                    "them virtual to schedule on GPUs this machine does not have)")
    return None


def _ids(ids: list[int] | list[str]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN]))
    return f"[{shown}{', ...' if len(ids) > _SHOWN else ''}]"
