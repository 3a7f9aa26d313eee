"""The campaign's stage functions, as tandem runs them in warm worker processes.

Contract: each function takes plain, picklable values (configs, results of earlier stages,
absolute paths) and returns one of the frozen values in :mod:`tandem_apps.ddmd.types`. They
adapt the campaign's configuration to the science modules (:mod:`.peptide`, :mod:`.md`,
:mod:`.aggregate`, :mod:`.train`, :mod:`.agent`), which know nothing of tandem. Heavy imports
(OpenMM, torch, scikit-learn) happen inside the functions, so the driver process stays light and
a warm worker pays for them once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem_apps.ddmd.config import MD, Agent, Training
from tandem_apps.ddmd.types import AgentResult, RestartPoint, SegmentResult, TrainResult

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


async def warm_workers(session: Any, cores: int, fn: Any = warm_up, *args: Any) -> None:
    """One warm-up task (``fn(*args)``) per core at once: every worker a campaign will use
    is warm before the campaign's clock starts (kind ``setup``, left out of its numbers)."""
    import tandem

    await tandem.gather(*(session.submit(fn, *args, name="warm-up", kind="setup", cores=1)
                          for _ in range(cores)))


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
    return md_module.run_segment(
        md_params(md, seed), lineage=lineage, segment=segment, start=start, out_dir=out_dir,
        initial_pdb=prepared.initial_pdb, target_pdb=prepared.target_pdb)


def last_frame(seg: SegmentResult) -> RestartPoint:
    """The point a lineage continues from when it takes no restart: its own last frame."""
    return RestartPoint(dcd=seg.dcd, topology=seg.topology, frame=seg.frames - 1,
                        lineage=seg.lineage, segment=seg.segment, rmsd=seg.final_rmsd)


def aggregate(segments: Sequence[SegmentResult], out: str) -> str:
    """Concatenate the segments' HDF5 files into ``out`` (the round's training set)."""
    from tandem_apps.ddmd import aggregate as agg

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return agg.aggregate([s.h5 for s in segments], out)


def _cvae_config(training: Training, seed: int) -> CVAEConfig:
    from tandem_apps.ddmd import cvae

    return cvae.CVAEConfig(latent_dim=training.latent_dim, batch_size=training.batch_size,
                           lr=training.learning_rate, seed=seed)


def train(data_h5: str, checkpoint: str, previous: TrainResult | None, epochs: int,
          training: Training, seed: int) -> TrainResult:
    """Train the CVAE on ``data_h5`` for ``epochs``, warm-started from ``previous``."""
    from tandem_apps.ddmd import train as train_module

    Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
    return train_module.train(
        data_h5, checkpoint, epochs=epochs, config=_cvae_config(training, seed),
        warm_start=previous.checkpoint if previous is not None else None)


def agent(model: TrainResult, data_h5: str, out_dir: str, outliers: int, candidates: int,
          cfg: Agent) -> AgentResult:
    """Embed every frame, find LOF outliers, re-rank by RMSD, write ``restarts.json``."""
    from tandem_apps.ddmd import agent as agent_module

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return agent_module.select_restarts(
        model.checkpoint, data_h5, out_dir, n_outliers=outliers, n_neighbors=cfg.n_neighbors,
        rerank_by_rmsd=cfg.rerank_by_rmsd, candidates=candidates)
