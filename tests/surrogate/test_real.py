"""The surrogate on real processes: real calls, audits and retrainings run in warm function
workers, placed on this machine's cores like any task; the models are files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

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
    kinds = {r["kind"] for r in tandem.read_trace(tmp_path) if "kind" in r}
    assert {"surrogate-real", "surrogate-retrain"} <= kinds
