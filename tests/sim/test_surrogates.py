"""Predicting workflows with surrogate-backed task sets: the workflow on virtual time, its
sets' calls through modelled surrogates, against the same workflow with every call real."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tandem.config import load_workflow, loads_workflow
from tandem.core.policy import Policy
from tandem.errors import SpecError
from tandem.sim import open_simulated_session, predict, run_virtual
from tandem.sim.surrogates import costs_of, run_seed_modelled
from tandem.spec import Duration, FunctionCall, SurrogatePlan, TaskSet, Workflow
from tandem.spec.platform import Platform
from tandem.surrogate import ModelledSurrogate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "surrogate" / "mc_sampler.yaml"


def only_sampler(chains: int = 2, count: int = 40) -> Workflow:
    plan = SurrogatePlan(hit_rate=0.8, inference=0.05, retrain=2.0, min_pairs=4, every=6,
                         audit_fraction=0.2, chains=chains)
    return Workflow(name="w", platform=Platform.uniform(1, cores=2), task_sets=(
        TaskSet(name="mc", count=count, duration=Duration(mean=1.5), surrogate=plan),))


def test_a_set_runs_exactly_as_its_modelled_surrogate_called_in_chains() -> None:
    wf = only_sampler()
    got, counts = run_seed_modelled(wf, 3, mode="async", policy=Policy())

    async def by_hand() -> tuple[float, object]:
        async with open_simulated_session(wf.platform, seed=3) as s:
            t0 = asyncio.get_running_loop().time()
            ms = ModelledSurrogate(s, costs_of(wf.task_sets[0], 1.0, 3), name="mc")

            async def chain(n: int) -> None:
                for _ in range(n):
                    await ms()
            await asyncio.gather(chain(20), chain(20))
            await s.wait_all()
            return asyncio.get_running_loop().time() - t0, ms.counts

    end, hand = run_virtual(by_hand())
    assert counts["mc"] == hand
    assert got.makespan_from_submit == pytest.approx(end, abs=1e-9)
    c = counts["mc"]
    assert c.calls == 40 and c.surrogate + c.real == 40 and c.retrains >= 1


def test_predict_says_what_the_surrogate_saves() -> None:
    wf = load_workflow(EXAMPLE)
    p = predict(wf, mode="async", seeds=3)
    assert p.without_surrogates is not None and p.surrogates
    c = p.surrogates["sample"]
    assert c.calls == 200 and c.real >= 8 and c.share > 0.5
    assert p.p50 < p.without_surrogates / 2          # most 3 s calls answered in 10 ms
    # every call real: 200 calls of 3 s on 4 cores in 4 chains, after 2 s, before 5 s
    assert p.without_surrogates == pytest.approx(2 + 50 * 3 + 5)
    assert predict(wf, mode="async", seeds=3) == p   # seeded: the same every time
    # the numbers docs/workflows.md quotes
    assert [round(m, 1) for m in p.makespans] == [58.2, 50.0, 53.0] and p.p50 == 53.0
    assert (c.surrogate, c.real, c.audits, c.retrains) == (160, 40, 16, 3)


def test_barrier_mode_waits_for_every_lower_level() -> None:
    wf = load_workflow(EXAMPLE)
    side = TaskSet(name="side", duration=Duration(mean=60.0))   # beside prepare (2 s)
    wide = dataclasses.replace(wf, task_sets=(*wf.task_sets, side))
    alone = predict(wf, mode="async", seeds=1).p50       # 2 s, then sample, then 5 s
    # barrier: sample starts once side has ended too (at 60 s, not 2 s)
    assert predict(wide, mode="barrier", seeds=1).p50 == pytest.approx(alone - 2.0 + 60.0)


def test_bad_plans_are_refused_with_the_key_named() -> None:
    with pytest.raises(SpecError, match="a surrogate-backed set needs a duration"):
        TaskSet(name="x", work=FunctionCall(fn=print), surrogate=SurrogatePlan())
    with pytest.raises(SpecError, match="chains"):
        TaskSet(name="x", count=2, duration=Duration(mean=1.0),
                surrogate=SurrogatePlan(chains=3))
    with pytest.raises(SpecError, match="hit_rate"):
        SurrogatePlan(hit_rate=1.5)
    text = EXAMPLE.read_text().replace("hit_rate: 0.9", "hit_rate: 2")
    with pytest.raises(SpecError, match=r"mc.yaml:\d+: task_sets\[1\].surrogate.hit_rate: "
                       "expected a number between 0 and 1, got 2"):
        loads_workflow(text, filename="mc.yaml")
