"""The campaign's figure: best peak temperature so far against wall time, both methods, and
where each evaluated.

Contract: :func:`best_vs_time` writes one PNG (matplotlib, Agg) and returns its path; inputs are
finished :class:`~tandem_apps.active_learning.campaign.CampaignResult` values. The right panel
draws the objective's landscape solved on a coarse grid (a few seconds) under the points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tandem_apps.active_learning.campaign import AL, CampaignResult
from tandem_apps.active_learning.objective import peak_temperature

LABELS = {AL: "active learning (GP + EI, tandem agent)", "sweep": "sweep (Latin hypercube)"}
COLOURS = {AL: "tab:blue", "sweep": "tab:orange"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def landscape(points: int = 21, grid: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The objective on a ``points x points`` lattice of the box, solved on a coarse grid."""
    axis = np.linspace(0.0, 1.0, points)
    values = np.array([[peak_temperature((x, y), grid) for x in axis] for y in axis])
    return axis, values


def best_vs_time(results: Sequence[CampaignResult], target: float, out: str | Path,
                 *, draw_landscape: bool = True) -> Path:
    """Left: best so far (°C) against seconds since the start, per method, the target dashed
    and each method's time-to-target marked. Right: the evaluated points on the box."""
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    for r in results:
        curve = r.best_so_far()
        if not curve:
            continue
        ts = [0.0] + [t for t, _ in curve]
        vs = [math.nan] + [v for _, v in curve]
        colour = COLOURS.get(r.method)
        ttt = "not reached" if r.time_to_target is None else f"{r.time_to_target:.1f} s"
        ax.step(ts, vs, where="post", color=colour, lw=1.8,
                label=f"{LABELS.get(r.method, r.method)}: target {ttt}, "
                      f"{len(r.evaluations)} runs")
        ax.plot([t for t, _, _ in r.evaluations], [v for _, _, v in r.evaluations], ".",
                color=colour, alpha=0.35, ms=5)
        if r.time_to_target is not None:
            ax.axvline(r.time_to_target, color=colour, ls=":", lw=1)
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g} °C")
    ax.set_xlabel("wall time since the campaign started (s)")
    ax.set_ylabel("peak temperature (°C): best so far, and each run")
    top = min(max((v for r in results for _, _, v in r.evaluations), default=target + 10),
              target + 40)
    ax.set_ylim(target - 8, top)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("time to target")
    if draw_landscape:
        axis, values = landscape()
        cs = bx.contourf(axis, axis, values, levels=20, cmap="viridis_r")
        fig.colorbar(cs, ax=bx, label="peak temperature (°C), coarse solve")
        bx.contour(axis, axis, values, levels=[target], colors="white", linewidths=1)
    for r in results:
        pts = np.array([p for _, p, _ in r.evaluations]) if r.evaluations else np.zeros((0, 2))
        if len(pts):
            bx.scatter(pts[:, 0], pts[:, 1], s=18, color=COLOURS.get(r.method),
                       edgecolor="black", lw=0.4, label=LABELS.get(r.method, r.method))
    bx.set_xlim(0, 1)
    bx.set_ylim(0, 1)
    bx.set_xlabel("contact x (fraction)")
    bx.set_ylabel("contact y (fraction)")
    bx.set_title("where each method evaluated")
    bx.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
