"""The walltime in the simulator: the core's deferral and end-of-walltime preemption on virtual
seconds, and the prediction of how much finishes in one allocation and how many it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.core.states import TaskState
from tandem.core.values import FailureKind, Walltime
from tandem.errors import SpecError
from tandem.sim.simulator import run
from tandem.sim.walltime import predict_walltime
from tandem.spec import Mock, Platform, Resources, TaskSpec
from tandem.spec.workflow import Duration, TaskSet, Workflow


def spec(name: str, estimate: float | None) -> TaskSpec:
    return TaskSpec(name=name, work=Mock(seconds=0), estimate=estimate,
                    resources=Resources(cores=1))


def test_six_seconds_of_walltime_and_two_second_tasks_start_none_that_cannot_finish() -> None:
    specs = [spec(f"t{i}", 2.0) for i in range(5)]
    res = run(Platform.uniform(1, cores=1), specs, [()] * 5, [2.0] * 5,
              walltime=Walltime(ends_at=6.0, margin=0.0, grace=1.0))
    states = [r.state for r in res.records]
    assert states == [TaskState.DONE] * 2 + [TaskState.CANCELLED] * 3
    for r in res.records:
        assert r.launched is None or r.launched + 2.0 <= 5.0
    assert res.last_end == 4.0


def test_at_the_end_a_running_task_is_preempted_and_its_work_is_carried() -> None:
    specs = [spec("long", None), spec("after", None)]
    res = run(Platform.uniform(1, cores=1), specs, [(), (0,)], [10.0, 1.0],
              walltime=Walltime(ends_at=6.0, margin=0.0, grace=2.0))
    long, after = res.records
    assert long.state is TaskState.CANCELLED and long.preempted == 1
    assert long.failure is not None and long.failure.kind is FailureKind.WALLTIME
    assert after.state is TaskState.CANCELLED and after.failure is not None
    assert after.failure.kind is FailureKind.WALLTIME    # the walltime, not its upstream
    assert res.carried == ((0, 4.0),)                     # preempted at 6 - 2


def wf(count: int = 6, seconds: float = 2.0, cores: int = 1, then: float | None = None
       ) -> Workflow:
    sets = [TaskSet(name="sim", count=count, duration=Duration(mean=seconds))]
    if then is not None:
        sets.append(TaskSet(name="train", duration=Duration(mean=then), depends_on=("sim",)))
    return Workflow(name="w", platform=Platform.uniform(1, cores=cores), task_sets=tuple(sets))


def test_how_much_finishes_in_one_allocation_and_how_many_it_needs() -> None:
    # 6 tasks of 2 s on one core; an allocation of 7.5 s with grace 1 and margin 0 fits 3
    # (launched by 6.5 s at the latest); at 6 s the next would end at 8: deferred.
    p = predict_walltime(wf(), 7.5, grace=1.0, margin=0.0)
    assert (p.first.done, p.first.deferred, p.first.preempted) == (3, 3, 0)
    assert p.fraction_done == 0.5 and p.work_fraction == 0.5
    assert p.allocations == 2 and p.never == ()
    assert [r.done for r in p.runs] == [3, 3]
    assert "3 of 6 tasks finish" in p.describe() and "2 allocations of 7.5 s" in p.describe()


def test_a_task_whose_estimate_exceeds_the_walltime_can_never_finish() -> None:
    p = predict_walltime(wf(count=2, seconds=1.0, then=20.0), 10.0, grace=1.0, margin=1.0)
    assert p.allocations is None
    assert p.never == ("train",)
    assert p.first.done == 2 and p.first.deferred == 1
    assert "1 tasks can never finish" in p.describe()


def test_with_checkpoints_preempted_work_carries_over_and_without_them_it_never_ends() -> None:
    # Estimated at 2 s, the task really runs 5 s: launched at 0 in allocations of 5 s (grace 1),
    # it is preempted at 4 s each time.
    late = Workflow(name="w", platform=Platform.uniform(1, cores=1), task_sets=(
        TaskSet(name="sim", duration=Duration(mean=2.0, distribution="empirical",
                                              samples=(5.0,))),))
    p = predict_walltime(late, 5.0, grace=1.0, margin=0.0)
    assert (p.first.done, p.first.preempted) == (0, 1)
    assert p.allocations == 2 and [r.done for r in p.runs] == [0, 1]   # 4 s, then 1 s more
    again = predict_walltime(late, 5.0, grace=1.0, margin=0.0, checkpoint=False)
    assert again.allocations is None and again.never == ("sim",)
    assert "restart from scratch" in again.describe()


def test_bad_walltime_values_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="walltime must be a number of seconds > 0"):
        predict_walltime(wf(), 0.0)
    with pytest.raises(SpecError, match="leave no time to run"):
        predict_walltime(wf(), 3.0, grace=2.0, margin=1.0)
    with pytest.raises(SpecError, match="grace must be"):
        predict_walltime(wf(), 30.0, grace=-1.0)


def test_the_simulator_and_a_session_on_virtual_time_decide_the_same(tmp_path: Path) -> None:
    import asyncio

    import tandem
    from tandem.backends.mock import MockBackend
    from tandem.sim import run_virtual

    ests: list[float | None] = [3.0, None, 2.0, 6.0, 1.0, 2.5, None, 4.0]
    durs = [3.0, 2.0, 2.0, 6.0, 1.0, 2.5, 5.0, 4.0]
    specs = [TaskSpec(name=f"t{i}", work=Mock(seconds=d), estimate=e,
                      resources=Resources(cores=1))
             for i, (e, d) in enumerate(zip(ests, durs, strict=True))]
    plat = Platform.uniform(1, cores=2)
    sim = run(plat, specs, [()] * len(specs), durs,
              walltime=Walltime(ends_at=9.0, margin=0.5, grace=1.0))

    async def main() -> list[tuple[TaskState, float | None]]:
        loop = asyncio.get_running_loop()
        async with tandem.open_session(plat, run_dir=tmp_path, backends=[MockBackend()],
                                       clock=loop.time, walltime=9.0, margin=0.5,
                                       grace=1.0) as s:
            t0 = s.time()
            fs = [s.submit_spec(x) for x in specs]
            await asyncio.gather(*fs, return_exceptions=True)
        return [(f.record.state, None if f.record.launched is None
                 else round(f.record.launched - t0, 6)) for f in fs]

    real = run_virtual(main())
    assert real == [(r.state, r.launched) for r in sim.records]
    assert {st for st, _ in real} == {TaskState.DONE, TaskState.CANCELLED}
