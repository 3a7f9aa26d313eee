"""The stuck-lineage tracker, and the async campaign's ending of stuck segments.

The campaign's steering (:func:`tandem_apps.ddmd.campaign.run_campaign`: lineages, staleness
policy, stuck-lineage policy) runs unchanged on tandem's virtual-time loop, with each stage
modelled: a segment lasts 10 s and never makes progress after the first, the first training
lasts ``T``, later ones a second. So which segment is ended, and when, follows from ``T`` alone,
never from how fast OpenMM or torch ran on a loaded machine. (The real stages run end to end
in ``test_campaign_real.py``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tandem import Platform
from tandem.sim import open_simulated_session, run_virtual
from tandem.trace.records import load_trace
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.campaign import CampaignRun, run_campaign
from tandem_apps.ddmd.config import CampaignConfig, load_config
from tandem_apps.ddmd.stuck import Progress
from tandem_apps.ddmd.types import AgentResult, RestartPoint, SegmentResult, TrainResult


def _seg(min_rmsd: float, max_fnc: float) -> SegmentResult:
    return SegmentResult(lineage=0, segment=0, dcd="d", h5="h", topology="t", frames=5,
                         min_rmsd=min_rmsd, final_rmsd=min_rmsd, max_fnc=max_fnc,
                         ns_per_day=1.0, platform="CPU", threads=1, started_from="initial")


def test_progress_in_rmsd_or_native_contacts_resets_the_count() -> None:
    p = Progress()
    assert p.update(_seg(8.0, 0.1), 0.1, 0.02)          # the first segment is progress
    assert not p.update(_seg(7.95, 0.11), 0.1, 0.02)    # too small in both
    assert not p.update(_seg(8.5, 0.0), 0.1, 0.02)
    assert p.stuck(2) and not p.stuck(3)
    assert p.update(_seg(9.0, 0.2), 0.1, 0.02)          # new native contacts count
    assert p.stalled == 0
    assert not p.update(_seg(8.0, 0.2), 0.1, 0.02)
    assert p.update(_seg(7.8, 0.2), 0.1, 0.02)          # best RMSD 7.95 -> 7.8
    p.stalled = 5
    p.restarted()
    assert not p.stuck(1)


# Nothing counts as progress, so the lineage is stuck once its second segment ends. Its later
# segments continue its own trajectory while the long first training runs (they may run 5
# rounds ahead); the one running when round 0's outliers arrive is ended and restarted from one
# of them.
CONFIG = ("simulations: 1\niterations: 6\ncores: 2\nmodes: [async]\nbaseline: false\n"
          "max_staleness: 5\nmd: {segment_ps: 15.0, report_interval_ps: 1.0}\n"
          "training: {epochs: 1, initial_epochs: 200, batch_size: 8}\n"
          "agent: {n_neighbors: 3}\n"
          "stuck: {enabled: true, segments: 1, min_rmsd_gain: 100, min_fnc_gain: 2}\n")
SEGMENT_S = 10.0     # one segment, on virtual time
ML_S = 1.0           # aggregation, agent; a training of one epoch


def _segment(prepared: Any, md: Any, lineage: int, segment: int, start: RestartPoint | None,
             out_dir: str, seed: int) -> SegmentResult:
    """A segment's result: the same RMSD and native contacts every time (no progress)."""
    return SegmentResult(
        lineage=lineage, segment=segment, dcd=f"{out_dir}/segment.dcd",
        h5=f"{out_dir}/segment.h5", topology="top.pdb", frames=15, min_rmsd=8.0,
        final_rmsd=8.5, max_fnc=0.1, ns_per_day=1.0, platform="model", threads=1,
        started_from="initial" if start is None else f"{start.dcd}#{start.frame}")


def _train(data: str, checkpoint: str, previous: Any, epochs: int, training: Any,
           seed: int) -> TrainResult:
    return TrainResult(checkpoint=checkpoint, epochs=epochs, losses=(1.0,), frames=15,
                       device="model")


def _agent(model: TrainResult, data: str, out_dir: str, outliers: int, candidates: int,
           cfg: Any) -> AgentResult:
    """Restart points: frame 3 of the round's own (modelled) file, one per simulation."""
    points = tuple(RestartPoint(dcd=f"{out_dir}/outlier{i}.dcd", topology="top.pdb", frame=3,
                                lineage=0, segment=0, rmsd=7.0, lof=2.0)
                   for i in range(outliers))
    return AgentResult(restarts_json=f"{out_dir}/restarts.json",
                       embeddings=f"{out_dir}/embeddings.npz", restarts=points, frames=15)


def modelled_campaign(cfg: CampaignConfig, run_dir: Path, first_training_s: float
                      ) -> CampaignRun:
    """The async campaign of ``cfg`` on virtual time, its trace in ``run_dir``."""

    def opener(platform: Platform, rd: Path) -> Any:
        return open_simulated_session(
            platform, run_dir=rd,
            durations={"setup": 0.0, "simulation": SEGMENT_S, "aggregation": ML_S,
                       "agent": ML_S,
                       # train(data, checkpoint, previous, epochs, ...): the first round's
                       # initial_epochs take first_training_s; one epoch later is ML_S
                       "training": lambda spec: (first_training_s if spec.work.args[3] > 1
                                                 else ML_S * spec.work.args[3])},
            results={"setup": lambda *args: "model", "simulation": _segment,
                     "aggregation": lambda segments, out: out, "training": _train,
                     "agent": _agent})

    prepared = stages.Prepared(initial_pdb="initial.pdb", target_pdb="target.pdb",
                               sequence=cfg.sequence)

    return run_virtual(run_campaign(cfg, "async", run_dir, Platform.uniform(1, cores=2),
                                    prepared, opener=opener))


def _config(tmp_path: Path) -> CampaignConfig:
    path = tmp_path / "ddmd.yaml"
    path.write_text(CONFIG)
    return load_config(path)


# First training T: round 0 publishes at 10 (S0) + 1 (A0) + T (M0) + 1 (I0) = T + 12 s. The
# lineage is stuck from S1's end (20 s), continuing its own frames one segment after another:
# the segment running then is ended, and restarted from round 0's outliers.
@pytest.mark.parametrize(("first_training_s", "ended_segment"),
                         [(15.0, 2), (25.0, 3), (35.0, 4), (45.0, 5)])
def test_async_campaign_ends_stuck_segments_and_restarts_them(
        tmp_path: Path, first_training_s: float, ended_segment: int) -> None:
    cfg = _config(tmp_path)
    run = modelled_campaign(cfg, tmp_path / "run", first_training_s)
    published = first_training_s + 12.0
    ((lineage, segment, why, at),) = run.killed
    assert (lineage, segment, round(at, 6)) == (0, ended_segment, published)
    # S1 .. S{k-1} made no progress
    assert why == (f"lineage 0 stuck: no progress in RMSD or native contacts for "
                   f"{ended_segment - 1} segments; restarting from round 0's outliers")
    # Every segment still ran to the end, once: S0 .. S{k-1} on the lineage's own frames, back
    # to back; S{k} again at once, from round 0's outliers; each later one (the lineage is
    # stuck again: no progress) from the newest list, round j-2 (round j-1 still trains).
    k = ended_segment
    assert [(s.result.segment, s.restart_round, round(s.started, 6), round(s.ended, 6))
            for s in run.segments] == [
        *((j, None, 10.0 * j, 10.0 * j + 10.0) for j in range(k)),
        *((j, 0 if j == k else j - 2, published + 10.0 * (j - k), published + 10.0 * (j - k + 1))
          for j in range(k, 6))]
    restarted = next(s for s in run.segments if s.result.segment == k)
    assert restarted.result.started_from.endswith("round000/agent/outlier0.dcd#3")
    trace = load_trace(tmp_path / "run")
    cancelled = [t for t in trace.tasks if t.state == "cancelled"]
    assert [(t.kind, t.name) for t in cancelled] == [("simulation", f"S{ended_segment}.0")]
    assert "stuck" in (cancelled[0].failure or {}).get("message", "")
    # the end is a steering action in the trace: who decided what, when
    (steer,) = [st for st in trace.steering if st.action == "cancel"]
    assert (steer.by, steer.reason) == ("stuck-lineage policy", why)


@pytest.mark.parametrize(("first_training_s", "why"), [
    (5.0, "round 0 publishes at 17 s, while S1 runs: the lineage is not stuck yet (S0 was "
          "progress)"),
    (55.0, "round 0 publishes at 67 s: every segment ended at 60 s")])
def test_nothing_is_ended_outside_that_window(tmp_path: Path, first_training_s: float,
                                              why: str) -> None:
    run = modelled_campaign(_config(tmp_path), tmp_path / "run", first_training_s)
    assert run.killed == (), why
    assert [s.result.segment for s in run.segments] == list(range(6))
    assert not [t for t in load_trace(tmp_path / "run").tasks if t.state == "cancelled"]
