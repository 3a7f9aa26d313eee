"""Properties tying the simulator to the analytic model, on random workflows (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.core.policy import Order, Policy
from tandem.model import analyze
from tandem.sim import predict
from tandem.spec import Platform, Resources
from tandem.spec.workflow import Duration, TaskSet, Workflow


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    n = draw(st.integers(1, 7))
    sets = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        sets.append(TaskSet(
            name=f"s{i}", count=draw(st.integers(1, 4)),
            resources=Resources(cores=draw(st.integers(1, 2)), gpus=draw(st.integers(0, 1))),
            duration=Duration(mean=draw(st.integers(1, 50))),
            depends_on=tuple(f"s{d}" for d in deps)))
    cores = draw(st.integers(2, 6))
    return Workflow(name="w", platform=Platform.uniform(draw(st.integers(1, 3)), cores=cores,
                                                       gpus=2), task_sets=tuple(sets))


def roomy(wf: Workflow) -> Platform:
    """One node with room for every task at once."""
    cores = sum(s.count * s.resources.total_cores for s in wf.task_sets)
    gpus = sum(s.count * s.resources.total_gpus for s in wf.task_sets)
    return Platform.uniform(1, cores=cores, gpus=max(gpus, 1))


@settings(max_examples=60, deadline=None)
@given(workflows(), st.sampled_from(list(Order)), st.booleans())
def test_no_schedule_beats_the_lower_bound(wf: Workflow, order: Order, backfill: bool) -> None:
    p = predict(wf, mode="async", seeds=1, policy=Policy(order=order, backfill=backfill))
    assert p.p50 >= analyze(wf).lower_bound - 1e-9
    assert 0.0 <= p.utilisation["cores"] <= 1.0 + 1e-9
    assert 0.0 <= p.utilisation["gpus"] <= 1.0 + 1e-9


@settings(max_examples=60, deadline=None)
@given(workflows())
def test_with_room_for_everything_the_simulator_is_the_formula(wf: Workflow) -> None:
    m = analyze(wf)
    plat = roomy(wf)
    assert predict(wf, mode="async", platform=plat, seeds=1).p50 == pytest.approx(m.t_async)
    assert predict(wf, mode="barrier", platform=plat, seeds=1).p50 == pytest.approx(m.t_seq)
