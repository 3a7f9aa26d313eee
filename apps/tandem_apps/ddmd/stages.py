"""The campaign's stage functions, as tandem runs them in warm worker processes.

Contract: each function takes plain, picklable values (configs, results of earlier stages,
absolute paths) and returns one of the frozen values in :mod:`tandem_apps.ddmd.types`. They
adapt the campaign's configuration to the science modules (:mod:`.peptide`, :mod:`.md`,
:mod:`.aggregate`, :mod:`.train`, :mod:`.agent`), which know nothing of tandem. Heavy imports
(OpenMM, torch, scikit-learn) happen inside the functions, so the driver process stays light and
a warm worker pays for them once.

Two sets, one per ``data`` mode, with the same signatures: :func:`simulate`,
:func:`aggregate`, :func:`train`, :func:`agent` hand each other files (HDF5, checkpoints,
``restarts.json`` and the DCD a restart is read from); :func:`simulate_memory`,
:func:`aggregate_memory`, :func:`train_memory`, :func:`agent_memory` hand each other the same
data as values that tandem keeps in shared memory and passes by reference, and write only
what the user keeps (the DCD, ``restarts.json``, ``embeddings.npz``, the last round's
checkpoint). Each one's file I/O is counted (:func:`tandem_apps.ddmd.fsio.counted` around its
body) and carried in its result's ``io``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem_apps.ddmd.config import MD, Agent, Training
from tandem_apps.ddmd.fsio import counted
from tandem_apps.ddmd.types import (
    AgentResult,
    Aggregated,
    FrameSet,
    RestartPoint,
    SegmentFrames,
    SegmentResult,
    TrainResult,
    TrainState,
)

if TYPE_CHECKING:
    from tandem_apps.ddmd.cvae import CVAEConfig
    from tandem_apps.ddmd.md import MDParams


@dataclass(frozen=True, slots=True)
class Prepared:
    """The peptide's starting structure and the target it should fold into."""

    initial_pdb: str
    target_pdb: str
    sequence: str


def prepare(workdir: str, sequence: str) -> Prepared:
    """Build the extended start and the ideal α-helix target from ``sequence`` (offline)."""
    from tandem_apps.ddmd import peptide

    initial, target = peptide.prepare(workdir, sequence)
    return Prepared(initial_pdb=str(initial), target_pdb=str(target), sequence=sequence)


def warm_up(prepared: Prepared | None = None, md: MD | None = None,
            training: Training | None = None, out_dir: str | None = None) -> str:
    """Make this worker warm, so the campaign's clock starts warm: import the stages'
    libraries and, given the ``prepared`` system, run what each stage pays for only once per
    process: a segment of one report interval (the System is built and cached, OpenMM's
    platform loaded) and one training epoch on it (torch's first forward and backward), in
    ``out_dir/<pid>``."""
    import os

    import h5py  # noqa: F401
    import openmm  # noqa: F401
    import sklearn.neighbors  # noqa: F401
    import torch

    if prepared is not None and md is not None and training is not None and out_dir:
        here = Path(out_dir) / str(os.getpid())
        tiny = md.model_copy(update={"segment_ps": md.report_interval_ps})
        seg = simulate(prepared, tiny, 0, 0, None, str(here / "segment"), 1)
        train(seg.h5, str(here / "cvae.pt"), None, 1, training, 1)
    return torch.__version__


async def warm_workers(session: Any, cores: int, fn: Any = warm_up, *args: Any,
                       light: int = 0) -> None:
    """One warm-up task (``fn(*args)``) per core at once, and ``light`` more on no cores (the
    workers of tasks that hold none, such as ``data: stream``'s aggregations): every worker
    a campaign will use is warm before the campaign's clock starts (kind ``setup``, left out
    of its numbers)."""
    import tandem

    await tandem.gather(*(session.submit(fn, *args, name="warm-up", kind="setup",
                                         cores=1 if i < cores else 0, gpus=0)
                          for i in range(cores + light)))


def md_params(md: MD, seed: int) -> MDParams:
    from tandem_apps.ddmd import md as md_module

    return md_module.MDParams(
        simulation_ps=md.segment_ps, report_interval_ps=md.report_interval_ps, dt_fs=md.dt_fs,
        temperature_k=md.temperature_k, friction_per_ps=md.friction_per_ps,
        threshold_angstrom=md.threshold_angstrom, seed=seed)


def simulate(prepared: Prepared, md: MD, lineage: int, segment: int,
             start: RestartPoint | None, out_dir: str, seed: int) -> SegmentResult:
    """One OpenMM segment of ``lineage`` from ``start`` (None: the extended structure)."""
    from tandem_apps.ddmd import md as md_module

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with counted() as c:
        result = md_module.run_segment(
            md_params(md, seed), lineage=lineage, segment=segment, start=start,
            out_dir=out_dir, initial_pdb=prepared.initial_pdb, target_pdb=prepared.target_pdb)
    return replace(result, io=c.io)


def last_frame(seg: SegmentResult) -> RestartPoint:
    """The point a lineage continues from when it takes no restart: its own last frame."""
    return RestartPoint(dcd=seg.dcd, topology=seg.topology, frame=seg.frames - 1,
                        lineage=seg.lineage, segment=seg.segment, rmsd=seg.final_rmsd)


def data_path(data: Aggregated | str) -> str:
    """The training set's file, from an aggregation's result (or a path)."""
    return data.path if isinstance(data, Aggregated) else data


def aggregate(segments: Sequence[SegmentResult], out: str) -> Aggregated:
    """Concatenate the segments' HDF5 files into ``out`` (the round's training set)."""
    from tandem_apps.ddmd import aggregate as agg

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with counted() as c:
        path = agg.aggregate([s.h5 for s in segments], out)
    return Aggregated(path=path, frames=sum(s.frames for s in segments), io=c.io)


def _cvae_config(training: Training, seed: int) -> CVAEConfig:
    from tandem_apps.ddmd import cvae

    return cvae.CVAEConfig(latent_dim=training.latent_dim, batch_size=training.batch_size,
                           lr=training.learning_rate, seed=seed)


def train(data_h5: Aggregated | str, checkpoint: str, previous: TrainResult | None,
          epochs: int, training: Training, seed: int) -> TrainResult:
    """Train the CVAE on ``data_h5`` for ``epochs``, warm-started from ``previous``."""
    from tandem_apps.ddmd import train as train_module

    Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
    with counted() as c:
        result = train_module.train(
            data_path(data_h5), checkpoint, epochs=epochs, config=_cvae_config(training, seed),
            warm_start=previous.checkpoint if previous is not None else None)
    return replace(result, io=c.io)


def agent(model: TrainResult, data_h5: Aggregated | str, out_dir: str, outliers: int,
          candidates: int, cfg: Agent) -> AgentResult:
    """Embed every frame, find LOF outliers, re-rank by RMSD, write ``restarts.json``."""
    from tandem_apps.ddmd import agent as agent_module

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with counted() as c:
        result = agent_module.select_restarts(
            model.checkpoint, data_path(data_h5), out_dir, n_outliers=outliers,
            n_neighbors=cfg.n_neighbors, rerank_by_rmsd=cfg.rerank_by_rmsd,
            candidates=candidates)
    return replace(result, io=c.io)


# -- in memory: the same stages, handing each other values by reference ------------------------

Origin = tuple["SegmentFrames | AgentResult", int]
"""Where an in-memory segment starts: frame ``i`` of a segment's frames (its own last
frame) or restart point ``i`` of an agent's result, mapped from tandem's shared memory."""


def start_of(origin: Origin | None) -> tuple[RestartPoint | None, Any]:
    """The restart point and its coordinates (float32 Å) of an in-memory start."""
    if origin is None:
        return None, None
    value, i = origin
    if isinstance(value, SegmentFrames):
        point = last_frame(value.result)
        if i != point.frame:
            point = replace(point, frame=i, rmsd=float(value.rmsd[i]))
        return point, value.positions[i]
    if value.positions is None:
        raise ValueError("an agent's result without coordinates cannot start a segment in "
                         "memory (it was made by the file-based agent)")
    return value.restarts[i], value.positions[i]


def simulate_memory(prepared: Prepared, md: MD, lineage: int, segment: int,
                    start: Origin | None, out_dir: str, seed: int,
                    on_frame: Callable[..., None] | None = None) -> SegmentFrames:
    """One OpenMM segment, as :func:`simulate`, started from coordinates handed over by
    reference (``start``: see :data:`Origin`); it writes its DCD and returns its per-frame
    data instead of writing ``segment.h5`` (``on_frame``: as for
    :func:`tandem_apps.ddmd.md.simulate_segment`)."""
    from tandem_apps.ddmd import md as md_module

    point, positions = start_of(start)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with counted() as c:
        result, arrays = md_module.simulate_segment(
            md_params(md, seed), lineage=lineage, segment=segment, start=point,
            out_dir=out_dir, initial_pdb=prepared.initial_pdb, target_pdb=prepared.target_pdb,
            start_positions=positions, write_h5=False, on_frame=on_frame)
    return SegmentFrames(result=replace(result, io=c.io), contact_map=arrays.contact_map,
                         rmsd=arrays.rmsd, fnc=arrays.fnc, time_ps=arrays.time_ps,
                         positions=arrays.positions)


def aggregate_memory(segments: Sequence[SegmentFrames], out: str) -> FrameSet:
    """The segments' frames concatenated, as :func:`aggregate` does, in memory (``out``,
    the file-based mode's file, is not written)."""
    import numpy as np

    from tandem_apps.ddmd import aggregate as agg

    with counted() as c:
        frames = agg.combine([{
            "contact_map": s.contact_map, "rmsd": s.rmsd, "fnc": s.fnc, "time_ps": s.time_ps,
            "file": s.result.dcd, "dcd": s.result.dcd, "topology": s.result.topology,
            "lineage": s.result.lineage, "segment": s.result.segment} for s in segments])
        positions = np.concatenate([s.positions for s in segments])
    return FrameSet(frames=frames, positions=positions, io=c.io)


def train_memory(data_h5: FrameSet, checkpoint: str, previous: TrainState | None,
                 epochs: int, training: Training, seed: int) -> TrainState:
    """Train the CVAE on the frames handed over, as :func:`train`, warm-started from the
    previous round's state in memory; the checkpoint is written only when ``checkpoint`` is
    a path (the campaign's last round, for the user)."""
    from tandem_apps.ddmd import cvae
    from tandem_apps.ddmd import train as train_module

    with counted() as c:
        device = cvae.compute_device()
        # A copy: training updates the optimiser's state in place, and the mapped arrays are
        # the previous round's (copy-on-write, but shared by every task of this worker).
        warm = (cvae.from_payload(cvae.from_arrays(previous.payload, copy=True),
                                  previous.result.checkpoint or "memory", device)
                if previous is not None else None)
        model, optimizer, seen, losses = train_module.fit(
            data_h5.frames.contact_map, epochs=epochs, config=_cvae_config(training, seed),
            warm=warm, device=device)
        payload = cvae.checkpoint_payload(model, optimizer, seen + epochs)
        path = cvae.save_payload(checkpoint, payload) if checkpoint else ""
    result = TrainResult(checkpoint=path, epochs=epochs, losses=tuple(losses),
                         frames=data_h5.frames.count,
                         device=train_module.describe_device(device), io=c.io)
    return TrainState(result=result, payload=cvae.to_arrays(payload))


def agent_memory(model: TrainState, data_h5: FrameSet, out_dir: str, outliers: int,
                 candidates: int, cfg: Agent) -> AgentResult:
    """Choose restart points, as :func:`agent`, from the model and frames handed over; the
    result carries the restarts' coordinates (``positions``) for the next segments, and
    ``restarts.json`` and ``embeddings.npz`` are written for the user."""
    from tandem_apps.ddmd import agent as agent_module
    from tandem_apps.ddmd import cvae

    with counted() as c:
        device = cvae.compute_device()
        ckpt = cvae.from_payload(cvae.from_arrays(model.payload),
                                 model.result.checkpoint or "memory", device)
        choice = agent_module.choose(
            ckpt, data_h5.frames, device, n_outliers=outliers, n_neighbors=cfg.n_neighbors,
            rerank_by_rmsd=cfg.rerank_by_rmsd, candidates=candidates)
        result = agent_module.write_outputs(choice, data_h5.frames, out_dir)
    return replace(result, io=c.io, positions=data_h5.positions[choice.selected])
