"""Resource pools in the YAML format: declared per workflow, chosen per task set, honoured by
predictions; errors name the line and key."""

from __future__ import annotations

import pytest

from tandem.config import loads_workflow
from tandem.core.policy import Policy
from tandem.errors import SpecError
from tandem.sim.predict import run_seed
from tandem.spec import Quota

POOLS = """\
name: pooled
platform: {nodes: 1, cores_per_node: 4}
pools:
  md: {cores: 1}
task_sets:
  - name: sim
    count: 3
    duration: 10
    pool: md
  - name: analysis
    count: 3
    duration: 10
"""


def test_pools_load_and_bind_task_sets() -> None:
    wf = loads_workflow(POOLS)
    assert wf.pools == {"md": Quota(cores=1)}
    assert wf.task_set("sim").pool == "md" and wf.task_set("analysis").pool is None
    assert {t.spec.pool for t in wf.expand()} == {"md", None}


def test_predictions_respect_pool_quotas() -> None:
    wf = loads_workflow(POOLS)
    result = run_seed(wf, 0, mode="async", policy=Policy())
    sims = sorted(r.launched for r in result.records if r.name.startswith("sim"))  # type: ignore[type-var]
    assert sims == [0.0, 10.0, 20.0]          # md: one core at a time
    assert result.makespan == 30.0


def test_pool_errors_name_line_and_key() -> None:
    with pytest.raises(SpecError, match=r':9: task_sets\[0\]\.pool: no pool named "mx"'):
        loads_workflow(POOLS.replace("pool: md", "pool: mx"))
    with pytest.raises(SpecError, match=r"pools.*pools ask for 9 cores"):
        loads_workflow(POOLS.replace("md: {cores: 1}", "md: {cores: 9}"))
    with pytest.raises(SpecError, match="is the pool of tasks without a pool"):
        loads_workflow(POOLS.replace("md: {cores: 1}", "default: {cores: 1}"))
