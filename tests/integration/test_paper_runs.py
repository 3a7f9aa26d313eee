"""The paper's workflows run for real (scaled mock tasks on logical slots) match the simulator.

Acceptance experiments A1-A4 of paper-model.md section 4: the shipped YAML files, durations
scaled by 1/100 (the slide DAG by 1/1000), run through
:func:`tandem.runtime.workflow.run_workflow_async`
(the code path of ``tandem run``) in barrier and async mode. Each measured makespan (first
start to last end) must be within 3 % of the simulator's prediction (5 % for DDMD), and the
measured improvement I = 1 - T_async / T_barrier within 2 points of the predicted one.

These run in real time (about 13 s for the slide DAG, 19 s for DG1, 18 s for DG2 and 16 s for
DDMD): the two modes of a workflow run concurrently, as two sessions on one event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tandem.config import load_workflow
from tandem.runtime.workflow import RunResult, run_workflow_async
from tandem.spec.workflow import ModeName, Workflow
from tests.workflows import EXAMPLES, REFERENCE, simulated_makespan

pytestmark = pytest.mark.slow

CASES = [  # workflow, time scale, tolerance on each makespan
    ("slide", 1e-3, 0.03),
    ("dg1", 1e-2, 0.03),
    ("dg2", 1e-2, 0.03),
    ("ddmd_mock", 1e-2, 0.05),
]


async def _both(wf: Workflow, scale: float, tmp: Path) -> dict[ModeName, RunResult]:
    modes: tuple[ModeName, ModeName] = ("barrier", "async")
    runs = await asyncio.gather(*(run_workflow_async(wf, mode=m, time_scale=scale,
                                                     run_dir=tmp / m) for m in modes))
    return dict(zip(modes, runs, strict=True))


@pytest.mark.parametrize(("name", "scale", "tol"), CASES, ids=[c[0] for c in CASES])
def test_real_run_matches_the_prediction(name: str, scale: float, tol: float,
                                         tmp_path: Path) -> None:
    wf = load_workflow(EXAMPLES / f"{name}.yaml")
    predicted = {m: simulated_makespan(wf, m, time_scale=scale) for m in ("barrier", "async")}
    seq, asy = REFERENCE[name]
    assert predicted["barrier"] == pytest.approx(seq * scale)
    assert predicted["async"] == pytest.approx(asy * scale)
    runs = asyncio.run(asyncio.wait_for(_both(wf, scale, tmp_path), 120))
    for mode, run in runs.items():
        assert not run.failed, f"{mode}: {len(run.failed)} tasks failed"
        assert len(run.records) == sum(s.count for s in wf.task_sets)
    measured = {m: runs[m].makespan for m in predicted}
    i_pred = 1 - predicted["async"] / predicted["barrier"]
    i_meas = 1 - measured["async"] / measured["barrier"]
    print(f"\n{name}: predicted {predicted['barrier']:.3f} / {predicted['async']:.3f} s, "
          f"measured {measured['barrier']:.3f} / {measured['async']:.3f} s, "
          f"I predicted {i_pred:.2%}, measured {i_meas:.2%}")
    for mode in ("barrier", "async"):
        assert measured[mode] == pytest.approx(predicted[mode], rel=tol), mode
        assert measured[mode] >= predicted[mode] - 0.01, mode   # a run cannot beat the model
    assert abs(i_meas - i_pred) <= 0.02
