"""The scheduling pass (tandem.core.dispatch), driven directly over a core state."""

from __future__ import annotations

from tandem.core.actions import Action, Launch
from tandem.core.dispatch import admits, place, schedule, unplace
from tandem.core.events import Submitted
from tandem.core.policy import Policy
from tandem.core.state import CoreState
from tandem.core.task import CoreTask
from tandem.core.transitions import submit as on_submitted
from tandem.spec import Quota

from .helpers import platform, spec


def submit(s: CoreState, tid: int, **kw: object) -> None:
    on_submitted(s, Submitted(task_id=tid, spec=spec(f"t{tid}", **kw)), 0.0,  # type: ignore[arg-type]
                 [])


def test_one_pass_launches_what_fits_in_order_and_clears_nothing_else() -> None:
    s = CoreState(platform(cores=3), Policy(backfill=False))
    submit(s, 0, cores=2)
    submit(s, 1, cores=2)
    submit(s, 2, cores=1)
    assert s.dirty
    out: list[Action] = []
    schedule(s, 0.0, out)
    assert [a.task_id for a in out if isinstance(a, Launch)] == [0]   # strict order: 1 blocks 2
    s2 = CoreState(platform(cores=3), Policy())
    for tid, c in [(0, 2), (1, 2), (2, 1)]:
        submit(s2, tid, cores=c)
    out = []
    schedule(s2, 0.0, out)
    assert [a.task_id for a in out if isinstance(a, Launch)] == [0, 2]   # 2 backfills


def test_a_pool_at_its_quota_admits_nothing_and_place_charges_it() -> None:
    s = CoreState(platform(cores=4), Policy(), {"sim": Quota(cores=1)})
    bucket = s.queue.bucket_for(spec("x").resources, "sim")
    assert admits(s, bucket)
    p = place(s, bucket, CoreTask(0, spec("x"), (), 0.0, bucket), 0.0)
    assert p is not None
    assert s.quotas is not None and s.quotas.usage("sim").used_cores == 1
    assert not admits(s, bucket)
    unplace(s, bucket, p)
    assert s.quotas.usage("sim").used_cores == 0 and s.pool.free_cores == 4
