"""Synthetic segment files in the simulation stage's HDF5 format, for the DeepDriveMD tests.

Two families of contact maps: ``band`` (contacts near the diagonal, like an extended chain) and
``hairpin`` (the band plus an anti-diagonal, like a folded hairpin), each with a few random
symmetric flips so no two frames are identical unless asked for. :func:`one_core` runs a test
module the way tandem runs a stage: pinned to one placed core.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import h5py
import numpy as np
import numpy.typing as npt

R = 15


def band(residues: int = R, width: int = 2) -> npt.NDArray[np.uint8]:
    i, j = np.indices((residues, residues))
    return (np.abs(i - j) <= width).astype(np.uint8)


def hairpin(residues: int = R) -> npt.NDArray[np.uint8]:
    i, j = np.indices((residues, residues))
    return (band(residues).astype(bool) | (np.abs(i + j - (residues - 1)) <= 1)).astype(np.uint8)


def noisy(
    pattern: npt.NDArray[np.uint8], frames: int, rng: np.random.Generator, flips: int = 3
) -> npt.NDArray[np.uint8]:
    """``frames`` copies of ``pattern``, each with ``flips`` random symmetric off-diagonal flips."""
    r = pattern.shape[0]
    out = np.repeat(pattern[None], frames, axis=0).copy()
    for k in range(frames):
        for _ in range(flips):
            a, b = rng.integers(0, r, size=2)
            if a != b:
                out[k, a, b] ^= 1
                out[k, b, a] = out[k, a, b]
    return out


def write_segment(
    directory: str,
    contact_map: npt.NDArray[np.uint8],
    *,
    lineage: int = 0,
    segment: int = 0,
    rmsd: npt.NDArray[np.floating] | None = None,
    name: str = "segment.h5",
) -> str:
    """Write one segment file under ``directory``; return its absolute path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.abspath(os.path.join(directory, name))
    n = contact_map.shape[0]
    if rmsd is None:
        rmsd = np.linspace(8.0, 4.0, n)
    with h5py.File(path, "w") as f:
        f.create_dataset("contact_map", data=contact_map.astype(np.uint8))
        f.create_dataset("rmsd", data=np.asarray(rmsd, dtype=np.float32))
        f.create_dataset("fnc", data=np.linspace(0.1, 0.6, n, dtype=np.float32))
        f.create_dataset("time_ps", data=np.arange(1, n + 1, dtype=np.float32) * 10.0)
        f.attrs["lineage"] = lineage
        f.attrs["segment"] = segment
        f.attrs["dcd"] = os.path.join(os.path.dirname(path), "segment.dcd")
        f.attrs["topology"] = "/data/topology.pdb"
    return path


def write_segments(
    root: str, counts: list[int], seed: int = 0, residues: int = R
) -> list[str]:
    """One segment per entry of ``counts`` (that many noisy ``band`` frames), lineage = index."""
    rng = np.random.default_rng(seed)
    return [
        write_segment(
            os.path.join(root, f"lineage{i:02d}", "seg0000"),
            noisy(band(residues), n, rng),
            lineage=i,
            segment=0,
        )
        for i, n in enumerate(counts)
    ]


@contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one of its cores (as a placed task is), restoring affinity and torch's
    thread count afterwards. On one core, CPU training is fast and reproducible even while other
    processes load the machine."""
    import torch

    threads = torch.get_num_threads()
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores is not None:
        os.sched_setaffinity(0, {min(cores)})
    torch.set_num_threads(1)
    try:
        yield
    finally:
        if cores is not None:
            os.sched_setaffinity(0, cores)
        torch.set_num_threads(threads)
