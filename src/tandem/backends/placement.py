"""Placement -> what a task's processes see: environment, and the cores they are pinned to.

Contract: pure functions from core values to plain values; the one home for the rule every
backend follows. A task sees exactly its GPU ids (``CUDA_VISIBLE_DEVICES`` and the ROCm
names), a thread count equal to the cores it runs on, and its node. A task that holds cores is
pinned to them. A task placed on no cores (``cores=0``: a GPU feeder, a controller) is pinned
to the request's ``shared_cores`` — the cores of its node that no task held when it was
launched, or, when every core was held, the node's last core — never to the whole machine
while other tasks hold cores. (A request without shared cores, from a driver that computes
none, pins nothing: its processes keep the backend's affinity mask.)
Imports: tandem.core.values.
"""

from __future__ import annotations

from tandem.core.values import Placement


def placement_env(placement: Placement, shared_cores: tuple[int, ...] = ()) -> dict[str, str]:
    """Environment a task needs to see exactly its placement: its GPU ids (CUDA and ROCm
    names) and its thread count. For a multi-rank task, the first slot's view."""
    slot = placement.slots[0]
    gpus = ",".join(slot.gpus)
    cores = slot.cores or shared_cores
    threads = str(max(1, len(cores)))
    return {
        "CUDA_VISIBLE_DEVICES": gpus,
        "ROCR_VISIBLE_DEVICES": gpus,
        "HIP_VISIBLE_DEVICES": gpus,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "TANDEM_CORES": ",".join(map(str, slot.cores)),
        "TANDEM_GPUS": gpus,
        "TANDEM_NODE": slot.node,
    }


def pin_cores(placement: Placement, shared_cores: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The core ids a task's processes are pinned to: its own, else the shared ones."""
    return placement.slots[0].cores or shared_cores
