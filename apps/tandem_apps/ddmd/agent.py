"""The agent: embed every frame with the CVAE, find outliers, and choose restart points.

Contract: one function, :func:`select_restarts`, run by tandem as a task in a warm worker; it
imports the application's own modules, numpy, torch and scikit-learn, never tandem. It follows
DeepDriveMD's LOF agent: the *intrinsic* score is scikit-learn's LocalOutlierFactor on the latent
means; the most outlying ``candidates`` are kept; the optional *extrinsic* score re-ranks them by
RMSD to the target (lowest first). Its outputs, ``restarts.json`` (a list of
:class:`~tandem_apps.ddmd.types.RestartPoint` dicts, best first) and ``embeddings.npz``, are
written atomically.

Identical frames count once. Frames with the same contact map have the same embedding; they are
scored as one point (so a state visited many times does not make its neighbours look outlying
merely by being dense) and represented by the one with the lowest RMSD (the earliest on ties), so
restart points never repeat a contact map. With fewer distinct frames than ``n_neighbors + 1``,
LOF uses ``distinct - 1`` neighbours; with a single distinct frame every LOF score is 1.0 (an
inlier). With fewer distinct frames than ``n_outliers``, all of them are returned, best first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from sklearn.neighbors import LocalOutlierFactor

from tandem_apps.ddmd.aggregate import Frames, read_frames
from tandem_apps.ddmd.cvae import (
    CVAE,
    Checkpoint,
    CheckpointError,
    compute_device,
    load_checkpoint,
    to_input,
)
from tandem_apps.ddmd.types import AgentResult, RestartPoint

RESTARTS_JSON = "restarts.json"
EMBEDDINGS_NPZ = "embeddings.npz"


def select_restarts(
    checkpoint: str,
    h5_files: Sequence[str] | str,
    out_dir: str,
    *,
    n_outliers: int,
    n_neighbors: int = 20,
    rerank_by_rmsd: bool = True,
    candidates: int | None = None,
    batch_size: int = 1024,
) -> AgentResult:
    """Choose up to ``n_outliers`` restart points among the frames of ``h5_files``.

    ``h5_files`` is an aggregated file, one segment file, or a sequence of segment files.
    ``candidates`` (default ``2 * n_outliers``) is how many of the most outlying distinct frames
    (most negative ``negative_outlier_factor_``) survive the intrinsic step; with
    ``rerank_by_rmsd`` the ``n_outliers`` of them with the lowest RMSD are returned (lowest
    first), otherwise the ``n_outliers`` most outlying (most outlying first).
    ``RestartPoint.lof`` is the local outlier factor (about 1 for inliers, larger when outlying).
    """
    if n_outliers < 1:
        raise ValueError(f"n_outliers must be at least 1, got {n_outliers}")
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
    if candidates is None:
        candidates = 2 * n_outliers
    if candidates < n_outliers:
        raise ValueError(f"candidates ({candidates}) must be at least n_outliers ({n_outliers})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    frames = read_frames(h5_files)
    if frames.count == 0:
        raise ValueError(f"no frames to choose restart points from in {h5_files!r}")
    device = compute_device()
    ckpt = load_checkpoint(checkpoint, device)
    choice = choose(ckpt, frames, device, n_outliers=n_outliers, n_neighbors=n_neighbors,
                    rerank_by_rmsd=rerank_by_rmsd, candidates=candidates,
                    batch_size=batch_size, what=repr(h5_files))
    return write_outputs(choice, frames, out_dir)


@dataclass(frozen=True, slots=True, eq=False)
class Choice:
    """What the agent chose among ``frames``: restart points (best first), the frame index of
    each, and every frame's embedding and LOF score."""

    restarts: tuple[RestartPoint, ...]
    selected: npt.NDArray[np.intp]
    z: npt.NDArray[np.float32]      # frames x latent
    lof: npt.NDArray[np.float64]    # frames


def choose(ckpt: Checkpoint, frames: Frames, device: torch.device, *, n_outliers: int,
           n_neighbors: int = 20, rerank_by_rmsd: bool = True, candidates: int | None = None,
           batch_size: int = 1024, what: str = "the frames") -> Choice:
    """Embed ``frames`` with the model of ``ckpt``, score them by LOF and choose the restart
    points (the science of :func:`select_restarts`, on frames in memory)."""
    if candidates is None:
        candidates = 2 * n_outliers
    if frames.count == 0:
        raise ValueError(f"no frames to choose restart points from in {what}")
    if ckpt.residues != frames.residues:
        raise CheckpointError(
            ckpt.path, f"was trained on {ckpt.residues}x{ckpt.residues} contact maps, but "
            f"{what} holds {frames.residues}x{frames.residues}"
        )
    model = ckpt.build_model(device)

    distinct, inverse = np.unique(
        frames.contact_map.reshape(frames.count, -1), axis=0, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    z_distinct = embed(model, distinct.reshape(-1, frames.residues, frames.residues), device,
                       batch_size)
    lof_distinct = lof_scores(z_distinct, n_neighbors)
    representative = _representatives(inverse, frames.rmsd, len(distinct))
    chosen = rank(lof_distinct, frames.rmsd[representative], n_outliers=n_outliers,
                  candidates=candidates, rerank_by_rmsd=rerank_by_rmsd)
    selected = representative[chosen]
    restarts = tuple(_restart_point(frames, int(i), float(lof_distinct[inverse[i]]))
                     for i in selected)
    return Choice(restarts=restarts, selected=selected, z=z_distinct[inverse],
                  lof=lof_distinct[inverse])


def write_outputs(choice: Choice, frames: Frames, out_dir: str) -> AgentResult:
    """Write ``restarts.json`` and ``embeddings.npz`` into ``out_dir``; the agent's result."""
    os.makedirs(out_dir, exist_ok=True)
    restarts_json = _write_json(os.path.join(out_dir, RESTARTS_JSON),
                                [r.to_dict() for r in choice.restarts])
    embeddings = _write_npz(
        os.path.join(out_dir, EMBEDDINGS_NPZ),
        z=choice.z, rmsd=frames.rmsd, source=frames.source,
        lineage=np.asarray(frames.lineages, dtype=np.int64)[frames.source[:, 0]],
        segment=np.asarray(frames.segments, dtype=np.int64)[frames.source[:, 0]],
        lof=choice.lof.astype(np.float32), selected=choice.selected.astype(np.int64),
        files=np.asarray(frames.files, dtype=str),
    )
    return AgentResult(restarts_json=restarts_json, embeddings=embeddings,
                       restarts=choice.restarts, frames=frames.count)


def embed(
    model: CVAE, maps: npt.NDArray[np.uint8], device: torch.device, batch_size: int = 1024
) -> npt.NDArray[np.float32]:
    """Latent means (frames x latent_dim) of contact maps (frames x R x R), in batches."""
    model.eval()
    out: list[npt.NDArray[np.float32]] = []
    with torch.inference_mode():
        for start in range(0, len(maps), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(maps[start:start + batch_size]))
            mu, _ = model.encode(to_input(batch.to(device), model.padded))
            out.append(mu.float().cpu().numpy())
    if not out:
        return np.zeros((0, model.config.latent_dim), np.float32)
    return np.concatenate(out)


def lof_scores(z: npt.NDArray[np.floating], n_neighbors: int) -> npt.NDArray[np.float64]:
    """Local outlier factor of each row of ``z`` (larger is more outlying); ``n_neighbors`` is
    capped at ``len(z) - 1``, and a single point scores 1.0."""
    if len(z) < 2:
        return np.ones(len(z))
    lof = LocalOutlierFactor(n_neighbors=min(n_neighbors, len(z) - 1))
    lof.fit(np.asarray(z, dtype=np.float64))
    return -np.asarray(lof.negative_outlier_factor_, dtype=np.float64)


def rank(
    lof: npt.NDArray[np.floating],
    rmsd: npt.NDArray[np.floating],
    *,
    n_outliers: int,
    candidates: int,
    rerank_by_rmsd: bool,
) -> npt.NDArray[np.intp]:
    """Indices of the chosen points, best first: the ``candidates`` largest LOF scores (ties:
    lower RMSD, then index), then by RMSD (ties: larger LOF) when ``rerank_by_rmsd``."""
    index = np.arange(len(lof))
    by_lof = np.lexsort((index, rmsd, -lof))[:candidates]
    if rerank_by_rmsd:
        by_lof = by_lof[np.lexsort((by_lof, -lof[by_lof], rmsd[by_lof]))]
    return by_lof[:n_outliers]


def _representatives(
    inverse: npt.NDArray[np.intp], rmsd: npt.NDArray[np.floating], groups: int
) -> npt.NDArray[np.intp]:
    """For each group of identical frames, the frame with the lowest RMSD (earliest on ties)."""
    order = np.lexsort((np.arange(len(inverse)), rmsd, inverse))  # by group, rmsd, index
    first = np.ones(len(order), dtype=bool)
    first[1:] = inverse[order[1:]] != inverse[order[:-1]]
    rep = np.empty(groups, dtype=np.intp)
    rep[inverse[order[first]]] = order[first]
    return rep


def _restart_point(frames: Frames, i: int, lof: float) -> RestartPoint:
    j, k = (int(v) for v in frames.source[i])
    return RestartPoint(
        dcd=frames.dcds[j], topology=frames.topologies[j], frame=k, lineage=frames.lineages[j],
        segment=frames.segments[j], rmsd=float(frames.rmsd[i]), lof=lof,
    )


def _write_json(path: str, value: object) -> str:
    path = os.path.abspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_npz(path: str, **arrays: npt.ArrayLike) -> str:
    path = os.path.abspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
