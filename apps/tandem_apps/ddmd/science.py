"""What a campaign found, over wall time: RMSD per frame, best so far, time to target.

Contract: pure functions over a :class:`~tandem_apps.ddmd.campaign.CampaignRun` plus one reader
(:func:`frames`, which reads each segment's HDF5 ``rmsd`` and ``fnc``, or takes them from
the run when the campaign kept its data in memory). A frame's wall time is
placed linearly inside its segment's running interval (frame i of n at
``started + (i + 1) / n * (ended - started)``): the segment reports frames at a steady rate.
A run with a ``horizon`` (a time budget: the plain-MD baseline) counts no frame after it.

"Effective performance" (the chapter's sense): how fast a campaign reaches a structure, not how
many ns/day it runs — time to the first frame within ``target`` Å RMSD of the folded structure,
and the best RMSD reached within a common wall time or per core-hour of allocation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tandem_apps.ddmd.campaign import CampaignRun


@dataclass(frozen=True, slots=True)
class Frames:
    """Every frame of a run, in wall-time order."""

    time: np.ndarray      # seconds since the campaign began
    rmsd: np.ndarray      # Å
    fnc: np.ndarray
    lineage: np.ndarray
    segment: np.ndarray   # index of the frame's segment in ``run.segments``


def frames(run: CampaignRun) -> Frames:
    """All frames of ``run`` with their wall times, none after its ``horizon`` (reads the
    segments' HDF5 files)."""
    import h5py

    ts: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    ls: list[np.ndarray] = []
    ss: list[np.ndarray] = []
    for i, seg in enumerate(run.segments):
        if seg.rmsd is not None and seg.fnc is not None:   # in memory: no segment.h5
            rmsd = np.asarray(seg.rmsd, dtype=float)
            fnc = np.asarray(seg.fnc, dtype=float)
        else:
            with h5py.File(seg.result.h5, "r") as h:
                rmsd = np.asarray(h["rmsd"][:], dtype=float)
                fnc = np.asarray(h["fnc"][:], dtype=float)
        n = len(rmsd)
        if n == 0:
            continue
        t = seg.started + (np.arange(n) + 1) / n * (seg.ended - seg.started)
        keep = t <= run.horizon if run.horizon is not None else np.ones(n, dtype=bool)
        if not keep.any():
            continue
        ts.append(t[keep])
        rs.append(rmsd[keep])
        fs.append(fnc[keep])
        ls.append(np.full(int(keep.sum()), seg.result.lineage))
        ss.append(np.full(int(keep.sum()), i))
    if not ts:
        empty = np.zeros(0)
        return Frames(empty, empty, empty, empty.astype(int), empty.astype(int))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    return Frames(t[order], np.concatenate(rs)[order], np.concatenate(fs)[order],
                  np.concatenate(ls)[order], np.concatenate(ss)[order])


def result_frames(run: CampaignRun) -> Frames:
    """The frames of ``run`` from its segments' results alone, for stand-in segments that
    write no files: each frame of a segment has the segment's best RMSD and fraction of
    native contacts (placed in time as :func:`frames` places them, none after the horizon)."""
    ts: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    ls: list[np.ndarray] = []
    ss: list[np.ndarray] = []
    for i, seg in enumerate(run.segments):
        n = seg.result.frames
        t = seg.started + (np.arange(n) + 1) / n * (seg.ended - seg.started)
        if run.horizon is not None:
            t = t[t <= run.horizon]
        ts.append(t)
        rs.append(np.full(len(t), seg.result.min_rmsd))
        fs.append(np.full(len(t), seg.result.max_fnc))
        ls.append(np.full(len(t), seg.result.lineage))
        ss.append(np.full(len(t), i))
    if not ts:
        empty = np.zeros(0)
        return Frames(empty, empty, empty, empty.astype(int), empty.astype(int))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    return Frames(t[order], np.concatenate(rs)[order], np.concatenate(fs)[order],
                  np.concatenate(ls)[order].astype(int), np.concatenate(ss)[order].astype(int))


def best_so_far(f: Frames) -> np.ndarray:
    """The lowest RMSD reached by each frame's wall time."""
    return np.minimum.accumulate(f.rmsd) if len(f.rmsd) else f.rmsd


def best_within(f: Frames, seconds: float) -> float | None:
    """The lowest RMSD reached within ``seconds`` of wall time (None: no frame yet)."""
    mask = f.time <= seconds
    return float(f.rmsd[mask].min()) if mask.any() else None


def time_to_target(f: Frames, target: float) -> float | None:
    """Wall time of the first frame within ``target`` Å (None: never reached)."""
    hits = np.nonzero(f.rmsd <= target)[0]
    return float(f.time[hits[0]]) if len(hits) else None


def _frame_ps(run: CampaignRun, segment_ps: float) -> float:
    """Picoseconds between two frames: a full segment (the most frames) is ``segment_ps``."""
    most = max((s.result.frames for s in run.segments), default=0)
    return segment_ps / most if most else 0.0


@dataclass(frozen=True, slots=True)
class Effectiveness:
    """A run's effective performance (see the module docstring)."""

    mode: str
    makespan: float
    core_hours: float          # allocation: cores of the platform x makespan (to the horizon)
    simulated_ns: float
    best_rmsd: float | None
    best_rmsd_common: float | None  # within the shortest makespan of the compared runs
    time_to_target: float | None
    max_fnc: float | None


def effectiveness(run: CampaignRun, f: Frames, cores: int, common: float, target: float,
                  segment_ps: float) -> Effectiveness:
    """Effective-performance numbers of ``run`` on ``cores`` cores; the simulated time is that
    of the frames that count (``segment_ps`` per full segment)."""
    counted = run.makespan if run.horizon is None else min(run.makespan, run.horizon)
    return Effectiveness(
        mode=run.mode, makespan=run.makespan, core_hours=cores * counted / 3600.0,
        simulated_ns=float(len(f.time)) * _frame_ps(run, segment_ps) / 1000.0,
        best_rmsd=float(f.rmsd.min()) if len(f.rmsd) else None,
        best_rmsd_common=best_within(f, common), time_to_target=time_to_target(f, target),
        max_fnc=float(f.fnc.max()) if len(f.fnc) else None)
