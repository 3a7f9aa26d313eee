"""The analytic model reproduces the paper's reference numbers (research/paper-model.md 1.7,
2.4 and 4)."""

from __future__ import annotations

import math

import pytest

from tandem.errors import SpecError
from tandem.model import analyze, doa_struct, set_waves
from tandem.spec import Platform, Resources
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tests.paper import ddmd, dg, slide


def test_slide_dag() -> None:
    r = analyze(slide())
    assert r.levels == {"A": 0, "B": 1, "E": 1, "C": 2, "F": 2, "D": 3}
    assert r.t_seq == 7500
    assert r.t_async == 5500
    assert r.improvement == pytest.approx(2000 / 7500)
    assert round(r.improvement, 4) == 0.2667
    assert r.speedup == pytest.approx(7500 / 5500)
    assert r.doa_struct == pytest.approx(4 / 13)
    assert r.critical_path == ("A", "B", "C", "D")   # both branches are 5000 s; first wins


def test_dg1_gains_nothing() -> None:
    r = analyze(dg(1))
    assert r.t_seq == pytest.approx(1875.7)
    assert r.t_async == pytest.approx(1875.7)
    assert r.improvement == pytest.approx(0.0, abs=1e-12)
    assert r.critical_path == ("T0", "T1T2", "T4T5", "T7")


def test_dg2_hides_t7() -> None:
    r = analyze(dg(2))
    assert r.t_seq == pytest.approx(1769.1)
    assert r.t_async == pytest.approx(1307.6)
    assert round(r.improvement, 3) == 0.261
    assert r.t_seq - r.t_async == pytest.approx(461.5)   # T7's whole duration
    # DG1 and DG2 have the same topology, hence the same structural DOA.
    assert r.doa_struct == analyze(dg(1)).doa_struct


def test_ddmd_unconstrained() -> None:
    r = analyze(ddmd())
    assert r.t_seq == pytest.approx(1575.0)
    assert r.t_async == pytest.approx(1205.0)
    assert r.improvement == pytest.approx(1 - 1205 / 1575)
    assert r.critical_path == ("S1", "S2", "S3", "A3", "M3", "I3")
    # Every set fits the 16-node machine in one wave.
    assert set(r.waves.values()) == {1}
    assert r.t_async_waves == r.t_async


@pytest.mark.parametrize("d_f", [1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000])
def test_a6_sweep_is_piecewise_linear(d_f: float) -> None:
    r = analyze(slide(d_f))
    assert r.t_seq == 3500 + max(2000, d_f)
    assert r.t_async == 500 + max(5000, 1000 + d_f)
    expected = 0.0 if d_f <= 2000 else (
        (d_f - 2000) / (3500 + d_f) if d_f <= 4000 else 2000 / (3500 + d_f))
    assert r.improvement == pytest.approx(expected, abs=1e-12)


def test_a6_peak_is_at_balanced_branches() -> None:
    best = max(range(1000, 6001, 250), key=lambda d: analyze(slide(d)).improvement)
    assert best == 4000


def test_time_scale_scales_times_not_ratios() -> None:
    r = analyze(slide(time_scale=1 / 1000))
    assert r.t_seq == pytest.approx(7.5)
    assert r.t_async == pytest.approx(5.5)
    assert round(r.improvement, 4) == 0.2667


def _one(name: str, count: int, cores: int, gpus: int, d: float,
         deps: tuple[str, ...] = ()) -> TaskSet:
    return TaskSet(name=name, count=count, resources=Resources(cores=cores, gpus=gpus),
                   duration=Duration(mean=d), depends_on=deps)


def test_waves_correction() -> None:
    plat = Platform.uniform(2, cores=8, gpus=2)   # 16 cores, 4 GPUs
    wf = Workflow(name="w", platform=plat, task_sets=(
        _one("gpu", 10, 1, 1, 100.0),          # 10 GPU tasks on 4 GPUs: 3 waves
        _one("cpu", 33, 1, 0, 10.0, ("gpu",)),  # 33 cores of 16: 3 waves
        _one("small", 4, 4, 0, 5.0, ("gpu",)),  # exactly 16 cores: 1 wave
    ))
    r = analyze(wf)
    assert r.waves == {"gpu": 3, "cpu": 3, "small": 1}
    assert set_waves(wf.task_sets[0], 16, 4) == 3
    assert r.t_async == 110.0
    assert r.t_async_waves == 330.0
    assert r.t_seq_waves == 330.0
    assert r.improvement_waves == pytest.approx(0.0)


def test_bounds() -> None:
    plat = Platform.uniform(1, cores=4, gpus=1)
    wf = Workflow(name="w", platform=plat, task_sets=(
        _one("g", 4, 1, 1, 10.0),               # 40 GPU-seconds on one GPU
        _one("c", 8, 2, 0, 5.0),                # 80 + 40 = 120 core-seconds on 4 cores
    ))
    r = analyze(wf)
    assert r.bounds == {"critical_path": 10.0, "cores": 30.0, "gpus": 40.0}
    assert r.lower_bound == 40.0
    assert r.to_dict()["lower_bound"] == 40.0


def test_doa_chain_and_fork() -> None:
    plat = Platform.uniform(1, cores=2)
    chain = Workflow(name="c", platform=plat, task_sets=(
        _one("a", 1, 1, 0, 1), _one("b", 1, 1, 0, 1, ("a",)), _one("c", 1, 1, 0, 1, ("b",))))
    assert doa_struct(chain) == 0.0
    single = Workflow(name="s", platform=plat, task_sets=(_one("a", 1, 1, 0, 1),))
    assert doa_struct(single) == 0.0
    # a -> b -> c, and d alone: d (level 0) is independent of b and c (levels 1, 2).
    fork = Workflow(name="f", platform=plat, task_sets=(
        *chain.task_sets, _one("d", 1, 1, 0, 1)))
    assert doa_struct(fork) == pytest.approx(2 / 5)


def test_doa_counts_relaxed_async_edges_as_freedom() -> None:
    plat = Platform.uniform(1, cores=2)
    wf = Workflow(name="r", platform=plat, task_sets=(
        _one("a", 1, 1, 0, 1),
        TaskSet(name="b", resources=Resources(), duration=Duration(mean=1), depends_on=("a",),
                async_depends_on=()),
    ))
    assert doa_struct(wf) == 1.0


def test_a_set_without_duration_is_refused() -> None:
    from tandem.spec.task import Executable

    plat = Platform.uniform(1, cores=2)
    wf = Workflow(name="x", platform=plat, task_sets=(
        TaskSet(name="a", work=Executable(argv=("true",))),))
    with pytest.raises(SpecError, match="needs a duration"):
        analyze(wf)


def test_zero_durations() -> None:
    plat = Platform.uniform(1, cores=2)
    wf = Workflow(name="z", platform=plat, task_sets=(_one("a", 1, 1, 0, 0.0),))
    r = analyze(wf)
    assert r.improvement == 0.0 and r.speedup == 1.0
    assert not math.isnan(r.lower_bound)
