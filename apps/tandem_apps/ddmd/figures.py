"""Science figures of a campaign: RMSD over wall time per lineage, and the latent space.

Contract: each function writes one PNG (matplotlib, Agg) and returns its path; inputs are
finished runs (:class:`~tandem_apps.ddmd.campaign.CampaignRun`) and their frames. The latent
space is the last ML round's embeddings (``embeddings.npz``), projected on its two principal
components and coloured by RMSD to the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tandem_apps.ddmd.campaign import CampaignRun
from tandem_apps.ddmd.science import Frames, best_so_far


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rmsd_over_time(runs: Sequence[tuple[CampaignRun, Frames]], target: float,
                   out: str | Path) -> Path:
    """One panel per run: each lineage's RMSD (Å) against wall time, restarts marked, the
    best RMSD so far in black and the target dashed."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 2.6 * len(runs)), sharex=True,
                             sharey=True, squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (run, f) in zip(axes[:, 0], runs, strict=True):
        for i in np.unique(f.segment):      # one line per segment: a restart is a jump
            m = f.segment == i
            j = run.segments[int(i)].result.lineage
            ax.plot(f.time[m], f.rmsd[m], lw=0.9, color=cmap(j % 10), zorder=2)
        for seg in run.segments:
            if seg.restart_round is not None:
                ax.axvline(seg.started, color=cmap(seg.result.lineage % 10), lw=0.4, ls=":")
        for n, (_j, _k, _why, t) in enumerate(run.killed):
            ax.axvline(t, color="crimson", lw=1.0, ls="--",
                       label="stuck segment ended" if n == 0 else None)
        if len(f.time):
            ax.plot(f.time, best_so_far(f), color="black", lw=2.4, alpha=0.35, zorder=1,
                    label="best so far")
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g} Å")
        ax.set_title(f"{run.mode}: makespan {run.makespan:.1f} s, "
                     f"{len(run.segments)} segments", fontsize=10)
        ax.set_ylabel("RMSD to helix (Å)")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("wall time since the campaign began (s); dotted: restart from "
                           "an outlier")
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _project(z: np.ndarray) -> np.ndarray:
    centred = z - z.mean(axis=0)
    if centred.shape[1] < 2 or len(centred) < 2:
        return np.pad(centred, ((0, 0), (0, max(0, 2 - centred.shape[1]))))[:, :2]
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return np.asarray(centred @ vt[:2].T)


def latent_space(runs: Sequence[CampaignRun], out: str | Path) -> Path | None:
    """The last round's latent space of each campaign, coloured by RMSD; None if no run has
    an ML round."""
    with_ml = [r for r in runs if r.rounds]
    if not with_ml:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(with_ml), figsize=(5 * len(with_ml), 4.2), squeeze=False)
    for ax, run in zip(axes[0], with_ml, strict=True):
        last = run.rounds[-1]
        data = np.load(last.agent.embeddings)
        xy = _project(np.asarray(data["z"], dtype=float))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=data["rmsd"], cmap="viridis_r", s=6)
        chosen = {(p.dcd, p.frame) for p in last.agent.restarts}
        fig.colorbar(sc, ax=ax, label="RMSD to helix (Å)")
        ax.set_title(f"{run.mode}: latent space after round {last.index} "
                     f"({len(xy)} frames, {len(chosen)} restarts)", fontsize=10)
        ax.set_xlabel("PC 1 of the CVAE embedding")
        ax.set_ylabel("PC 2")
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
