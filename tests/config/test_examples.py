"""The paper's workflows shipped as YAML load and reproduce the reference numbers."""

from __future__ import annotations

import pytest

from tandem.config import load_workflow
from tests.workflows import EXAMPLES, REFERENCE, simulated_makespan


def test_every_example_is_listed() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_example_gives_the_reference_makespans(name: str) -> None:
    wf = load_workflow(EXAMPLES / f"{name}.yaml")
    assert wf.name == name and wf.mode == "async" and wf.time_scale == 1.0
    seq, asy = REFERENCE[name]
    assert simulated_makespan(wf, "barrier") == pytest.approx(seq, abs=0.05)
    assert simulated_makespan(wf, "async") == pytest.approx(asy, abs=0.05)


def test_paper_platform_and_sets() -> None:
    for name in ("dg1", "dg2", "ddmd_mock"):
        wf = load_workflow(EXAMPLES / f"{name}.yaml")
        assert len(wf.platform.nodes) == 16
        assert wf.platform.total_cores == 16 * 168 and wf.platform.total_gpus == 96
    dg2 = load_workflow(EXAMPLES / "dg2.yaml")
    assert {s.name: s.count for s in dg2.task_sets} == {
        "T0": 96, "T1T2": 32, "T3T6": 96, "T4T5": 16, "T7": 16}
    assert dg2.task_set("T7").depends_on == ("T4T5",)
    assert dg2.levels("barrier") == {"T0": 0, "T1T2": 1, "T3T6": 2, "T4T5": 2, "T7": 3}
    ddmd = load_workflow(EXAMPLES / "ddmd_mock.yaml")
    assert max(ddmd.levels("barrier").values()) == 11          # the 12-stage chain
    assert ddmd.levels("async")["S3"] == 2          # after the S1 -> S2 phase (two GPU waves)


def test_predict_gives_the_reference_makespans() -> None:
    from tandem.sim import predict

    for name, (seq, asy) in REFERENCE.items():
        wf = load_workflow(EXAMPLES / f"{name}.yaml")
        assert predict(wf, mode="barrier", seeds=1).p50 == pytest.approx(seq, abs=0.05)
        assert predict(wf, mode="async", seeds=1).p50 == pytest.approx(asy, abs=0.05)


def test_analytic_model_of_the_shipped_examples() -> None:
    from tandem.model import analyze

    expected = {"slide.yaml": (7500, 5500), "dg1.yaml": (1875.7, 1875.7),
                "dg2.yaml": (1769.1, 1307.6), "ddmd_mock.yaml": (1575, 1205)}
    for name, (seq, asy) in expected.items():
        report = analyze(load_workflow(EXAMPLES / name))
        assert report.t_seq == pytest.approx(seq, abs=0.05), name
        assert report.t_async == pytest.approx(asy, abs=0.05), name
