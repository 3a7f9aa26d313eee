"""The surrogate in a session on virtual time: the bound held by the controller, audits as
low-priority tasks, retraining as tasks with a hot swap, the records and the errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tandem import Instrument, Platform, TaskFailed, TaskRecord
from tandem.errors import SpecError
from tandem.runtime.session import Session
from tandem.sim import open_simulated_session, run_virtual
from tandem.spec.task import FunctionCall, TaskSpec
from tandem.surrogate import (
    GPModel,
    MemoryStore,
    Retraining,
    Surrogate,
    read_log,
    read_summary,
)
from tandem.surrogate.records import Audit, Call, Retrain, Swap

from .funcs import Interpolator, NoStd, broken, noisy, pair, two_d, wiggle

REAL = 10.0       # virtual seconds of one real call (the "expensive" function)
DURATIONS = {"surrogate-real": REAL, "surrogate-audit": REAL, "surrogate-retrain": 2.0,
             "blocker": 100.0}


class Ended(Instrument):
    """Every ended task's record and every task's priority, by id."""

    def __init__(self) -> None:
        self.records: dict[int, TaskRecord] = {}
        self.priority: dict[int, int] = {}

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        self.priority[task_id] = spec.priority

    def task_ended(self, record: TaskRecord) -> None:
        self.records[record.task_id] = record


def simulate(tmp_path: Path, body: Callable[[Session], Awaitable[Any]], *,
             cores: int = 4, durations: Any = None, ended: Ended | None = None) -> Any:
    async def main() -> Any:
        async with open_simulated_session(
                Platform.uniform(1, cores=cores), run_dir=tmp_path, trace=False,
                durations=DURATIONS if durations is None else durations,
                instruments=[ended] if ended is not None else []) as s:
            out = await body(s)
        return out
    return run_virtual(main())


async def chains(sur: Surrogate, n_chains: int, steps: int, seed: int = 0,
                 low: float = 0.0, high: float = 4.0) -> None:
    """``n_chains`` concurrent samplers, each calling the surrogate ``steps`` times."""
    rng = np.random.default_rng(seed)

    async def chain() -> None:
        for _ in range(steps):
            await sur(rng.uniform(low, high, size=1))
    await asyncio.gather(*(chain() for _ in range(n_chains)))


def test_the_bound_is_held_and_the_share_rises_as_data_accrue(tmp_path: Path) -> None:
    async def body(s: Session) -> Surrogate:
        sur = Surrogate(s, wiggle, bound=1e-3, model=GPModel(restarts=0), audit_fraction=0.3)
        await chains(sur, 4, 40)
        return sur
    sur = simulate(tmp_path, body)
    summary = sur.summary()
    assert summary.calls == 160 and summary.audits == summary.audited > 10
    assert summary.mean_error is not None and summary.mean_error <= 1e-3
    assert summary.bound_met and summary.share > 0.5
    assert summary.shares[-1] > summary.shares[0]
    assert "bound held" in summary.format()
    # The audits ran the real function: one real task per audit, each pair stored.
    kinds = [r for r in sur.records if isinstance(r, Call)]
    assert sum(c.audited for c in kinds) == summary.audits
    assert len(sur.store) == summary.real + summary.audits


def test_the_controller_lowers_an_over_confident_models_threshold(tmp_path: Path) -> None:
    bound = 2e-3

    async def body(s: Session) -> Surrogate:
        sur = Surrogate(s, wiggle, bound=bound, model=Interpolator(scale=0.05),
                        audit_fraction=0.5, retraining=Retraining(every=5))
        await chains(sur, 4, 100, seed=2)
        return sur
    sur = simulate(tmp_path, body)
    summary = sur.summary()
    audits = [r for r in sur.records if isinstance(r, Audit)]
    # At the start threshold (the bound) the errors are above it: the threshold went down.
    assert min(a.threshold for a in audits) < bound / 2
    assert any(a.error > bound for a in audits)
    assert summary.mean_error is not None and summary.mean_error <= bound
    assert summary.share > 0.3 and summary.shares[-1] > summary.shares[0]


def test_a_bound_that_cannot_be_met_falls_back_to_real_calls_and_says_so(
        tmp_path: Path) -> None:
    async def body(s: Session) -> Surrogate:
        sur = Surrogate(s, noisy, bound=0.01, model=Interpolator(scale=0.05),
                        audit_fraction=0.5, retraining=Retraining(every=5))
        await chains(sur, 2, 150, seed=1)
        return sur
    summary = simulate(tmp_path, body).summary()
    assert summary.bound_met is False
    # The threshold fell far below where it began, and with it the surrogate's share.
    assert summary.thresholds[-1][1] < summary.thresholds[0][1] / 100
    assert summary.shares[-1] <= max(summary.shares) / 3
    assert summary.real > 3 * summary.surrogate
    assert "bound NOT met" in str(summary) and "fell back to the real function" in str(summary)


def test_audits_are_low_priority_tasks(tmp_path: Path) -> None:
    X = np.linspace(0, 3, 20)[:, None]
    store = MemoryStore.of(X, [wiggle(x) for x in X])

    async def body(s: Session) -> tuple[list[int], list[int]]:
        sur = Surrogate(s, wiggle, bound=0.1, model=GPModel(restarts=0), store=store,
                        audit_fraction=1.0, retraining=Retraining(every=1000))
        await sur.wait_version(1)
        blocker = s.submit(int, 0, kind="blocker")    # holds the one core for 100 s
        calls = []
        for k in range(6):        # alternately trusted (inside the data) and not (far away)
            x = np.array([1.0 + 0.1 * k]) if k % 2 == 0 else np.array([50.0 + k])
            calls.append(asyncio.ensure_future(sur(x)))
            await asyncio.sleep(1.0)
        assert not blocker.done()
        await asyncio.gather(*calls)
        await s.wait_all()
        made = [r for r in sur.records if isinstance(r, Call)]
        audits = [c.task for c in made if c.audited and c.task is not None]
        reals = [c.task for c in made if c.decision == "real" and c.task is not None]
        return audits, reals
    ended = Ended()
    audits, reals = simulate(tmp_path, body, cores=1, ended=ended)
    assert len(audits) == len(reals) == 3
    records = {tid: ended.records[tid] for tid in audits + reals}
    # Submitted interleaved, started by the scheduler in priority order: every real call
    # before any audit, each audit at the lower priority.
    assert audits[0] < reals[0] < audits[1] < reals[1] < audits[2] < reals[2]   # submitted so
    order = sorted(records, key=lambda t: (records[t].started or 0.0, t))
    assert [records[t].kind for t in order] == ["surrogate-real"] * 3 + ["surrogate-audit"] * 3
    assert {ended.priority[t] for t in audits} == {-10}
    assert {ended.priority[t] for t in reals} == {0}


def _slow_far(spec: TaskSpec) -> float:
    """Real calls far from the data take 10 s, the others 1 s; a retraining 0.5 s."""
    work = spec.work
    if spec.kind == "surrogate-retrain":
        return 0.5
    assert isinstance(work, FunctionCall)
    return 10.0 if float(work.args[0][0]) > 100 else 1.0


def test_retraining_is_a_task_and_a_swap_keeps_calls_in_flight_on_their_version(
        tmp_path: Path) -> None:
    spans: list[tuple[int, float, float]] = []

    async def body(s: Session) -> Surrogate:
        sur = Surrogate(s, wiggle, bound=1e-6, model=Interpolator(), retraining=Retraining(
            every=1, min_pairs=2, cores=2, priority=5), store=MemoryStore.of(
                [[0.0], [1.0]], [wiggle(np.array([0.0])), wiggle(np.array([1.0]))]))
        await sur.wait_version(1)

        async def timed(x: float) -> None:
            t0 = s.time()
            await sur(np.array([x]))
            spans.append((round(x), t0, s.time()))
        # Slow calls (10 s) start on version 1; fast ones (1 s) add data meanwhile, so new
        # versions are swapped in while the slow calls are in flight.
        slow = [asyncio.ensure_future(timed(200.0 + k)) for k in range(2)]
        for k in range(6):
            await timed(2.0 + k)
        await asyncio.gather(*slow)
        return sur
    ended = Ended()
    sur = simulate(tmp_path, body, durations=_slow_far, ended=ended)
    swaps = [r for r in sur.records if isinstance(r, Swap)]
    retrains = [r for r in sur.records if isinstance(r, Retrain)]
    assert len(swaps) >= 3 and retrains[0].trigger == "first"
    # Each retraining was a task of its own kind and resources, its model a file.
    for r in retrains:
        rec = ended.records[r.task]
        assert rec.kind == "surrogate-retrain" and rec.cores == 2
    for w in swaps:
        assert Path(w.path) == tmp_path / "surrogate" / "models" / f"v{w.version}.pkl"
        assert Path(w.path).exists()
    # Every call was decided by the version serving when it started...
    calls = [r for r in sur.records if isinstance(r, Call)]
    for c in calls:
        serving = max([0] + [w.version for w in swaps if w.t <= c.t])
        assert c.version == serving
    # ...including the slow ones, which returned after later versions were swapped in.
    slow = [c for c in calls if c.decision == "real" and c.version == 1]
    assert len(slow) >= 2
    ends = [end for x, _, end in spans if x >= 200]
    assert len(ends) == 2 and all(any(w.t < end and w.version > 1 for w in swaps)
                                  for end in ends)


def test_the_log_is_a_file_and_reads_back_as_the_same_summary(tmp_path: Path) -> None:
    async def body(s: Session) -> Surrogate:
        sur = Surrogate(s, pair, bound=0.05, model=GPModel(restarts=0), audit_fraction=0.5,
                        name="vec")
        await chains(sur, 2, 15)
        out = await sur(np.array([1.0]))
        assert isinstance(out, np.ndarray) and out.shape == (2,)
        return sur
    sur = simulate(tmp_path, body, durations={"vec-real": 1.0, "vec-audit": 1.0,
                                              "vec-retrain": 1.0})
    assert read_summary(tmp_path, "vec") == sur.summary()
    assert read_log(tmp_path / "vec.jsonl") == sur.records
    assert (tmp_path / "vec" / "models" / "v1.pkl").exists()


def test_bad_input_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    async def body(s: Session) -> None:
        for bad in (0, -1.0):
            with pytest.raises(SpecError, match="bound must be a finite number > 0"):
                Surrogate(s, wiggle, bound=bad)
        with pytest.raises(SpecError, match="give bound="):
            Surrogate(s, wiggle)
        with pytest.raises(SpecError, match="audit_priority"):
            Surrogate(s, wiggle, bound=0.1, audit_priority=0)
        with pytest.raises(SpecError, match="kind are the surrogate's"):
            Surrogate(s, wiggle, bound=0.1, kind="x")  # type: ignore[call-arg]
        with pytest.raises(SpecError, match="is not a Model: it has no fit"):
            Surrogate(s, wiggle, bound=0.1, model=object())  # type: ignore[arg-type]
        sur = Surrogate(s, wiggle, bound=0.1, dim=1)
        with pytest.raises(SpecError, match="of that name already"):
            Surrogate(s, wiggle, bound=0.1)
        with pytest.raises(SpecError, match=r"x must be a 1-D float array .* shape \(1, 1\)"):
            await sur(np.zeros((1, 1)))
        with pytest.raises(SpecError, match=r"x has 2 values, expected 1"):
            await sur(np.zeros(2))
        with pytest.raises(SpecError, match="NaN"):
            await sur(np.array([np.nan]))
        odd = Surrogate(s, two_d, bound=0.1, name="odd")
        with pytest.raises(SpecError, match=r"two_d returned shape \(2, 2\)"):
            await odd(np.zeros(1))
        nostd = Surrogate(s, wiggle, bound=0.1, model=NoStd(), name="nostd",  # type: ignore[arg-type]
                          retraining=Retraining(min_pairs=1))
        await nostd(np.zeros(1))
        await nostd.wait_version(1)
        with pytest.raises(SpecError, match=r"predict must return \(mean, std\)"):
            await nostd(np.ones(1))
    simulate(tmp_path, body, durations=lambda spec: 1.0)


def test_a_function_that_raises_fails_its_call_with_its_error(tmp_path: Path) -> None:
    async def body(s: Session) -> None:
        sur = Surrogate(s, broken, bound=0.1)
        with pytest.raises(TaskFailed, match="cannot evaluate at 2.0"):
            await sur(np.array([2.0]))
    simulate(tmp_path, body, durations=lambda spec: 1.0)
