"""Retraining runs concurrently with the campaign: in the trace, a retraining task's running
interval overlaps real calls'."""

from __future__ import annotations

from pathlib import Path

from tandem import Platform
from tandem.sim import open_simulated_session, run_virtual
from tandem.surrogate import GPModel, Retraining, Surrogate
from tandem.trace.records import load_trace

from .funcs import wiggle
from .test_wrapper import DURATIONS, chains


def test_retraining_overlaps_real_calls_in_the_trace(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_simulated_session(Platform.uniform(1, cores=4), run_dir=tmp_path,
                                          durations=DURATIONS) as s:
            sur = Surrogate(s, wiggle, bound=1e-3, model=GPModel(restarts=0),
                            retraining=Retraining(min_pairs=4, every=4))
            await chains(sur, 4, 12)
    run_virtual(main())
    tasks = load_trace(tmp_path).tasks
    retrains = [t for t in tasks if t.kind == "surrogate-retrain" and t.begin is not None]
    reals = [t for t in tasks if t.kind == "surrogate-real" and t.begin is not None]
    assert retrains and reals
    overlapping = [(r, c) for r in retrains for c in reals
                   if r.begin is not None and c.begin is not None and r.ended is not None
                   and c.ended is not None and r.begin < c.ended and c.begin < r.ended]
    assert overlapping, "no retraining ran while a real call did"
