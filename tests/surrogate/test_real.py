"""The surrogate on real processes: real calls, audits and retrainings run in warm function
workers, placed on this machine's cores like any task; the models are files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import tandem
from tandem.surrogate import GPModel, Retraining, Surrogate, load_version, read_summary
from tandem.surrogate.records import Swap

from .funcs import wiggle


def test_real_calls_audits_and_retraining_run_as_tasks(tmp_path: Path) -> None:
    async def main() -> Surrogate:
        async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path) as s:
            sur = Surrogate(s, wiggle, bound=0.02, model=GPModel(restarts=0),
                            audit_fraction=0.5, retraining=Retraining(every=5, min_pairs=12))
            for x in np.linspace(0.0, 3.0, 12):          # all real: no model before 12 pairs
                await sur(np.array([x]))
            await sur.wait_version(1)
            answers = await asyncio.gather(*(sur(np.array([x]))
                                             for x in np.linspace(0.2, 2.8, 12)))
            assert all(abs(a - wiggle(np.array([x]))) < 0.05
                       for a, x in zip(answers, np.linspace(0.2, 2.8, 12), strict=True))
        return sur
    sur = asyncio.run(main())
    summary = read_summary(tmp_path)
    assert summary == sur.summary() and summary.versions >= 1 and summary.surrogate > 0
    swap = next(r for r in sur.records if isinstance(r, Swap))
    model = load_version(swap.path)              # written by the retraining task's worker
    mean, std = model.predict(np.array([[1.0]]))
    assert abs(mean[0] - wiggle(np.array([1.0]))) < 0.05 and std[0] >= 0
    trace = list(tandem.read_trace(tmp_path))
    kinds = {r["kind"] for r in trace if "kind" in r}
    assert {"surrogate-real", "surrogate-retrain"} <= kinds
    noted = [r for r in trace if r["ev"] == "surrogate"]         # the log, in the trace too
    calls = [r for r in noted if r["event"] == "call"]
    assert len(calls) == 24 and {r["surrogate"] for r in noted} == {"surrogate"}
    assert [r["decision"] for r in calls] == [r.decision for r in sur.records
                                              if hasattr(r, "decision")]
    assert all("threshold" in r and "uncertainty" in r for r in calls)
    assert any(r["event"] == "swap" for r in noted)


def test_workers_serve_the_model_and_take_up_a_new_version_without_restarting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tandem.backends.functions import FunctionBackend
    from tandem.surrogate import Serving

    from .funcs import DRIVER_PID, WorkerOnlyModel

    monkeypatch.setenv(DRIVER_PID, str(os.getpid()))   # the workers inherit it

    async def main() -> tuple[float, float, set[int], set[int], Surrogate]:
        fb = FunctionBackend(tmp_path / "workers", prespawn=2)
        async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path,
                                       backends=[fb]) as s:
            sur = Surrogate(s, wiggle, bound=10.0, model=WorkerOnlyModel(), audit_fraction=1.0,
                            retraining=Retraining(min_pairs=3, every=3, on_error=False),
                            serve=Serving(cores=1))
            for x in (0.1, 0.2, 0.3):                    # real: no model yet
                await sur(np.array([x]))
            await sur.wait_version(1)
            first = await sur(np.array([0.5]))           # v1, in a worker; audited
            before = set(fb.worker_pids())
            await asyncio.gather(*(sur(np.array([x])) for x in (0.6, 0.7)))
            await s.wait_all()                           # the audits: 3 pairs more
            await sur.wait_version(2)
            second = await sur(np.array([0.8]))
            after = set(fb.worker_pids())
        return first, second, before, after, sur

    first, second, before, after, sur = asyncio.run(asyncio.wait_for(main(), 120))
    assert first == 3.0                   # version 1: fitted on 3 pairs, answered in a worker
    assert second >= 6.0 and sur.version >= 2
    assert before <= after                # no worker was restarted for the new version
    kinds = [r.get("kind") for r in tandem.read_trace(tmp_path) if r.get("ev") == "end"]
    assert kinds.count("surrogate-infer") >= 4


def test_a_failed_prediction_task_makes_the_call_a_real_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from tandem.errors import SpecError
    from tandem.surrogate import Serving

    from .funcs import FailingPredict

    async def main() -> tuple[float, list[str]]:
        async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path) as s:
            with pytest.raises(SpecError, match="serve must be a Serving"):
                Surrogate(s, wiggle, bound=1.0, serve="workers")  # type: ignore[arg-type]
            sur = Surrogate(s, wiggle, bound=10.0, model=FailingPredict(), audit_fraction=0.5,
                            retraining=Retraining(min_pairs=2, every=100), serve=Serving())
            for x in (0.1, 0.2):
                await sur(np.array([x]))
            await sur.wait_version(1)
            with caplog.at_level(logging.WARNING, logger="tandem.surrogate"):
                y = await sur(np.array([0.4]))
            return y, [r.decision for r in sur.records if hasattr(r, "decision")]

    y, decisions = asyncio.run(asyncio.wait_for(main(), 120))
    assert y == wiggle(np.array([0.4]))                    # the real function's value
    assert decisions == ["real", "real", "real"]
    assert "prediction task failed" in caplog.text and "cannot predict" in caplog.text


def test_a_resumed_campaign_reruns_no_real_call_and_answers_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the journal (the default), re-running a finished surrogate campaign with
    resume=True restores its real calls, audits and retrainings (the models are files) instead
    of running them: the real function runs not once more, and every answer is the same."""
    from .funcs import Interpolator, counted

    calls = tmp_path / "calls.log"
    monkeypatch.setenv("TANDEM_TEST_CALLS", str(calls))
    xs = [np.array([x]) for x in np.linspace(0.0, 3.0, 10)] + \
        [np.array([x]) for x in np.linspace(0.1, 2.9, 15)]

    def campaign(resume: bool) -> tuple[list[float], int, str]:
        async def main() -> tuple[list[float], int, str]:
            async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path / "run",
                                           resume=resume) as s:
                sur = Surrogate(s, counted, bound=0.05, model=Interpolator(0.01), seed=3,
                                audit_fraction=0.3, retraining=Retraining(min_pairs=10,
                                                                          every=4))
                out = []
                for i, x in enumerate(xs):
                    out.append(await sur(x))
                    if i == 9:
                        await sur.wait_version(1)     # the same point in both runs
                await s.wait_all()
                return out, sur.version, "".join(sorted(set(
                    r.decision for r in sur.records if hasattr(r, "decision"))))
        return asyncio.run(asyncio.wait_for(main(), 120))

    first, v1, decided = campaign(False)
    executed = len(calls.read_text().split())
    assert decided == "realsurrogate" and v1 >= 1 and executed >= 10
    again, v2, _ = campaign(True)
    assert again == first and v2 == v1
    assert len(calls.read_text().split()) == executed     # nothing ran again
