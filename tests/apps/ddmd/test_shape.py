"""The campaign's graph: sync is a chain of barriers, async relaxes restarts by the staleness."""

from __future__ import annotations

from pathlib import Path

import pytest

import tandem
from tandem import Duration, Node, Platform
from tandem.sim.predict import predict
from tandem_apps.ddmd.config import load_config
from tandem_apps.ddmd.shape import ddmd_workflow, mock_durations, workflow_yaml

TWO_CORES = Platform(nodes=(Node(name="n0", cores=(0, 1)),))
D = {"simulation": Duration(mean=10.0), "aggregation": Duration(mean=1.0),
     "training": Duration(mean=3.0), "agent": Duration(mean=1.0)}


def test_dependencies_by_mode() -> None:
    cfg = load_config(overrides={"simulations": 2, "iterations": 3, "max_staleness": 1})
    wf = ddmd_workflow(cfg, TWO_CORES, D)
    sets = {s.name: s for s in wf.task_sets}
    assert sets["S1.0"].deps("barrier") == ("S0.0", "I0")
    assert sets["S1.0"].deps("async") == ("S0.0",)          # may run one round ahead
    assert sets["S2.1"].deps("async") == ("S1.1", "I0")     # but no more
    assert sets["A2"].deps("async") == ("S2.0", "S2.1")
    assert sets["M2"].deps("async") == ("A2", "M1")
    assert sets["I2"].deps("async") == ("M2",)


@pytest.mark.parametrize("ml_priority", [0, 1])
def test_sync_prediction_is_the_sum_of_stages(ml_priority: int) -> None:
    cfg = load_config(overrides={"simulations": 2, "iterations": 3, "ml_priority": ml_priority})
    wf = ddmd_workflow(cfg, TWO_CORES, D)
    assert {s.priority for s in wf.task_sets if s.kind != "simulation"} == {ml_priority}
    assert predict(wf, mode="barrier", seeds=1).p50 == pytest.approx(3 * (10 + 1 + 3 + 1))
    t_async = predict(wf, mode="async", seeds=1).p50
    # ML of round k overlaps segments of round k+1; the cores bound it from below.
    assert (3 * 2 * 10 + 3 * 5) / 2 <= t_async <= 45


def test_staleness_zero_async_equals_sync() -> None:
    cfg = load_config(overrides={"simulations": 2, "iterations": 3, "max_staleness": 0})
    wf = ddmd_workflow(cfg, TWO_CORES, D)
    assert predict(wf, mode="async", seeds=1).p50 == pytest.approx(45.0)


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = load_config(overrides={"simulations": 3, "iterations": 2})
    wf = ddmd_workflow(cfg, TWO_CORES, mock_durations(cfg))
    p = tmp_path / "ddmd.yaml"
    p.write_text(workflow_yaml(wf))
    back = tandem.load_workflow(p)
    for mode in ("barrier", "async"):
        assert predict(back, mode=mode, seeds=1).p50 == pytest.approx(
            predict(wf, mode=mode, seeds=1).p50)


def test_missing_duration_is_named() -> None:
    with pytest.raises(ValueError, match="no duration for stage"):
        ddmd_workflow(load_config(), TWO_CORES, {"simulation": Duration(mean=1.0)})
