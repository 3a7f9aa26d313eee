"""A surrogate-backed function as a cost model on virtual time: the same task kinds and rules
as the surrogate, makespans that follow from them exactly, a predicted speed-up."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tandem import Instrument, Platform, TaskRecord
from tandem.errors import SpecError
from tandem.sim import open_simulated_session, run_virtual
from tandem.spec.task import TaskSpec
from tandem.surrogate import ModelledCounts, ModelledSurrogate, SurrogateCosts


class Kinds(Instrument):
    def __init__(self) -> None:
        self.started: list[str] = []
        self.priority: dict[str, set[int]] = {}
        self._kind: dict[int, str] = {}

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        self._kind[task_id] = spec.kind
        self.priority.setdefault(spec.kind, set()).add(spec.priority)

    def task_ended(self, record: TaskRecord) -> None:
        self.started.append(self._kind[record.task_id])


def campaign(costs: SurrogateCosts, chains: int, calls: int, cores: int,
             kinds: Kinds | None = None) -> tuple[float, ModelledCounts]:
    async def main() -> tuple[float, ModelledCounts]:
        async with open_simulated_session(Platform.uniform(1, cores=cores),
                                          instruments=[kinds] if kinds else ()) as s:
            ms = ModelledSurrogate(s, costs, name="hf")
            t0 = s.time()

            async def chain() -> None:
                for _ in range(calls):
                    await ms(None)
            await asyncio.gather(*(chain() for _ in range(chains)))
        return s.time() - t0, ms.counts
    return run_virtual(main())


def test_one_chain_follows_the_rules_to_the_second() -> None:
    costs = SurrogateCosts(real=10.0, retrain=2.0, min_pairs=3, every=100, hit_rate=1.0,
                           audit_fraction=0.0)
    took, n = campaign(costs, 1, 10, cores=1)
    # calls 1-3 real (0-30 s); the retraining (30-32) goes before call 4's real task
    # (32-42), which was decided before version 1 served; calls 5-10 are answered at once
    assert took == pytest.approx(42.0)
    assert n == ModelledCounts(calls=10, surrogate=6, real=4, audits=0, retrains=1, versions=1)


def test_without_hits_it_is_the_all_real_campaign() -> None:
    costs = SurrogateCosts(real=1.0, hit_rate=0.0, retrain=0.5, every=1000)
    took, n = campaign(costs, 4, 50, cores=2)
    # 200 one-second calls on 2 cores, plus the one retraining that runs beside them
    assert 100.0 <= took <= 100.5
    assert n.surrogate == 0 and n.real == 200


def test_audits_are_low_priority_and_the_predicted_speedup_follows_the_hit_rate() -> None:
    kinds = Kinds()
    costs = SurrogateCosts(real=1.0, hit_rate=0.9, audit_fraction=0.2, retrain=2.0,
                           min_pairs=5, every=20, seed=3)
    took, n = campaign(costs, 4, 50, cores=2, kinds=kinds)
    assert n.calls == 200 and n.audits > 0 and n.versions >= 1
    assert kinds.priority["hf-audit"] == {-10} and kinds.priority["hf-real"] == {0}
    assert Counter(kinds.started)["hf-audit"] == n.audits
    all_real = 100.0
    assert took < all_real / 2      # most calls answered; the rest and the audits on 2 cores


def test_bad_costs_say_which_field() -> None:
    with pytest.raises(SpecError, match="real must be seconds"):
        SurrogateCosts(real=-1.0)
    with pytest.raises(SpecError, match="hit_rate must be in"):
        SurrogateCosts(real=1.0, hit_rate=1.5)
    with pytest.raises(SpecError, match="audits are low-priority"):
        SurrogateCosts(real=1.0, audit_priority=0)
