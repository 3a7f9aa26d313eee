"""The plain-MD baseline stops at its time budget, and frames after the budget do not count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tandem import Node, Platform
from tandem.sim.virtual import run_virtual
from tandem.spec.task import TaskSpec
from tandem.trace.records import load_trace
from tandem_apps.ddmd.baseline import run_baseline, segment_ps_within
from tandem_apps.ddmd.campaign import CampaignRun, Segment
from tandem_apps.ddmd.config import load_config
from tandem_apps.ddmd.predict import simulated
from tandem_apps.ddmd.science import best_within, effectiveness, frames
from tandem_apps.ddmd.stages import Prepared
from tandem_apps.ddmd.types import SegmentResult
from tests.apps.ddmd.synthetic import band, noisy, write_segment

TWO_CORES = Platform(nodes=(Node(name="n0", cores=(0, 1)),))
PREPARED = Prepared(initial_pdb="/nowhere/i.pdb", target_pdb="/nowhere/t.pdb", sequence="AAAAA")


def _seconds(spec: TaskSpec) -> float:
    """1 s of set-up and 0.1 s per ps: a full 25-ps segment takes 3.5 s."""
    if spec.kind == "setup":
        return 0.0
    assert spec.features is not None
    return 1.0 + 0.1 * float(spec.features["ps"])


def test_next_segment_fits_the_time_left() -> None:
    cfg = load_config()                       # 25 ps per segment, frames every 1 ps
    assert segment_ps_within(cfg, 10.0, 3.5) == 25.0
    assert segment_ps_within(cfg, 1.75, 3.5) == 12.0    # half the time: whole ps that fit
    assert segment_ps_within(cfg, 0.1, 3.5) is None     # not one report interval
    assert segment_ps_within(cfg, 0.0, 3.5) is None


def test_baseline_stops_at_the_budget_on_virtual_time(tmp_path: Path) -> None:
    cfg = load_config(overrides={"cores": 2})            # 4 lineages on 2 cores
    budget = 12.0
    run = run_virtual(run_baseline(cfg, tmp_path, TWO_CORES, PREPARED, budget, estimate=3.5,
                                   opener=simulated(_seconds)))
    assert run.horizon == budget
    assert run.segments and all(s.started < budget for s in run.segments)
    # the lineages take turns on the 2 cores; the last ones are cut to the time left, so the
    # run ends within a segment's set-up (1 s here) of the budget, not a whole segment later
    assert budget - 1.0 < run.makespan <= budget + 1.0
    ps = sorted(t.name for t in load_trace(tmp_path).tasks if t.kind == "simulation")
    assert len(ps) == len(run.segments)
    short = [s for s in run.segments if s.result.frames < 25]
    assert short, "no segment was shortened to the time left"
    with pytest.raises(ValueError, match="budget must be > 0"):
        run_virtual(run_baseline(cfg, tmp_path / "x", TWO_CORES, PREPARED, 0.0,
                                 opener=simulated(_seconds)))


def _seg(tmp: Path, lineage: int, started: float, ended: float, rmsd: list[float]
         ) -> Segment:
    rng = np.random.default_rng(lineage)
    h5 = write_segment(str(tmp / f"l{lineage}"), noisy(band(), len(rmsd), rng), lineage=lineage,
                       rmsd=np.asarray(rmsd))
    result = SegmentResult(lineage=lineage, segment=0, dcd="/x.dcd", h5=h5, topology="/t.pdb",
                           frames=len(rmsd), min_rmsd=min(rmsd), final_rmsd=rmsd[-1],
                           max_fnc=0.5, ns_per_day=1.0, platform="CPU", threads=1,
                           started_from="initial")
    return Segment(result, started, ended, 1, None)


def test_frames_after_the_horizon_do_not_count(tmp_path: Path) -> None:
    # 4 frames at 2.5, 5, 7.5 and 10 s; the budget is 6 s: the two last ones (and the best
    # RMSD, 3 Å at 10 s) do not count
    seg = _seg(tmp_path, 0, 0.0, 10.0, [6.0, 5.0, 4.0, 3.0])
    run = CampaignRun(mode="plain-md", run_dir=tmp_path, makespan=10.0, segments=(seg,),
                      rounds=(), durations={}, horizon=6.0)
    f = frames(run)
    assert list(f.time) == [2.5, 5.0]
    assert best_within(f, 100.0) == 5.0
    e = effectiveness(run, f, cores=2, common=100.0, target=3.5, segment_ps=4.0)
    assert e.best_rmsd == 5.0 and e.time_to_target is None
    assert e.core_hours == pytest.approx(2 * 6.0 / 3600)     # the allocation to the budget
    assert e.simulated_ns == pytest.approx(2 * 1.0 / 1000)   # two frames of 1 ps count
    free = CampaignRun(mode="sync", run_dir=tmp_path, makespan=10.0, segments=(seg,),
                       rounds=(), durations={})
    assert len(frames(free).time) == 4
