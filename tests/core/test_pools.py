"""Resource pools in the pure core: quotas, admission, moves that never kill, and a hypothesis
property over random submissions, exits, moves and steering."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.core.actions import Kill, Launch, Pause, Resolve, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    Exited,
    PauseRequested,
    PreemptRequested,
    QuotaMoved,
    ResumeRequested,
    Submitted,
)
from tandem.core.policy import Order, Policy
from tandem.core.pools import Quotas
from tandem.core.scheduler import Scheduler
from tandem.core.states import FINAL, TaskState
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec import DEFAULT_POOL, Quota, TaskSpec

from .helpers import NOOP, Driver, platform, spec

S = TaskState


def pooled(name: str, pool: str | None, cores: int = 1, gpus: int = 0) -> TaskSpec:
    s = spec(name, cores=cores, gpus=gpus)
    return TaskSpec(name=s.name, work=NOOP, resources=s.resources, pool=pool)


def test_default_pool_gets_the_rest_and_bad_pools_are_refused() -> None:
    q = Quotas(platform(cores=8, gpus=1), {"md": Quota(cores=6), "ml": Quota(cores=1, gpus=1)})
    assert q.names == ("md", "ml", DEFAULT_POOL)
    assert q.usage(DEFAULT_POOL).quota_cores == 1 and q.usage(DEFAULT_POOL).quota_gpus == 0
    with pytest.raises(SpecError, match="pools ask for 9 cores and 0 GPUs in all"):
        Quotas(platform(cores=8), {"md": Quota(cores=6), "ml": Quota(cores=3)})
    with pytest.raises(SpecError, match="'default' is the pool of tasks without a pool"):
        Quotas(platform(cores=8), {DEFAULT_POOL: Quota(cores=1)})
    with pytest.raises(SpecError, match="cores must be an integer >= 0"):
        Quota(cores=-1)


def test_submit_names_the_pool_in_errors() -> None:
    core = Scheduler(platform(cores=4), pools={"md": Quota(cores=2)})
    with pytest.raises(SpecError, match="no pool named 'mx'"):
        core.check_feasible(pooled("t", "mx"))
    with pytest.raises(InfeasibleRequest, match="request for 5 cores in pool 'md' can never"):
        core.check_feasible(pooled("t", "md", cores=5))
    core.check_feasible(pooled("t", "md", cores=3))   # fits once quota is moved to md
    plain = Scheduler(platform(cores=4))
    with pytest.raises(SpecError, match="has no resource pools"):
        plain.check_feasible(pooled("t", "md"))


def test_a_pool_admits_only_within_its_quota_and_others_are_not_held_back() -> None:
    d = Driver(platform(cores=4), Policy(order=Order.FIFO))
    d.core = Scheduler(platform(cores=4), Policy(order=Order.FIFO),
                       pools={"md": Quota(cores=1), "ml": Quota(cores=2)})
    m1 = d.submit(pooled("m1", "md"))
    m2 = d.submit(pooled("m2", "md"))       # md is full: waits
    l1 = d.submit(pooled("l1", "ml"))       # submitted after m2, still starts
    l2 = d.submit(pooled("l2", "ml"))
    x = d.submit(pooled("x", None))          # the default pool: 1 core
    assert d.launched_ids() == [m1, l1, l2, x]
    usage = d.core.pool_usage()
    assert usage["md"].used_cores == 1 and usage["md"].free_cores == 0
    d.finish(l1)
    assert d.launched_ids() == [m1, l1, l2, x]   # a free core, but not md's
    d.finish(m1)
    assert d.launched_ids()[-1] == m2


def test_move_never_kills_and_takes_effect_as_tasks_finish() -> None:
    d = Driver(platform(cores=4))
    d.core = Scheduler(platform(cores=4), pools={"md": Quota(cores=3), "ml": Quota(cores=1)})
    ms = [d.submit(pooled(f"m{i}", "md")) for i in range(3)]
    ml = [d.submit(pooled(f"l{i}", "ml")) for i in range(3)]
    assert len(d.launched) == 4
    out = d.send(QuotaMoved(source="md", target="ml", cores=2, by="balancer", reason="ml ahead"))
    assert out == [Steered("move", None, "balancer", "ml ahead",
                           (("from", "md"), ("to", "ml"), ("cores", 2), ("gpus", 0)))]
    assert not any(isinstance(a, Kill) for a in out)
    assert d.core.pool_usage()["md"].used_cores == 3      # over its new quota of 1
    d.finish(ms[0])
    assert d.launched_ids()[-1] == ml[1]                  # the freed core goes to ml
    d.finish(ms[1])
    assert d.launched_ids()[-1] == ml[2]
    m4 = d.submit(pooled("m4", "md"))
    assert d.core.state(m4) is S.READY                    # md still holds 1 = its quota
    d.finish(ms[2])
    assert d.core.state(m4) is S.LAUNCHED
    with pytest.raises(SpecError, match="cannot move 5 cores"):
        d.send(QuotaMoved(source="ml", target="md", cores=5))


def test_resumed_task_is_charged_to_its_pool_again() -> None:
    d = Driver(platform(cores=2))
    d.core = Scheduler(platform(cores=2), pools={"md": Quota(cores=1)})
    a = d.submit(pooled("a", "md"))
    d.send(PauseRequested(task_id=a, release=True))
    assert d.core.pool_usage()["md"].used_cores == 0
    b = d.submit(pooled("b", "md"))
    d.send(ResumeRequested(task_id=a))
    assert d.core.state(a) is S.RESUMING          # md's one core is b's now
    d.finish(b)
    assert d.core.state(a) is S.RUNNING and d.core.pool_usage()["md"].used_cores == 1


# -- the property -----------------------------------------------------------------------------

@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    nodes = draw(st.integers(1, 2))
    cores = draw(st.integers(2, 4))
    gpus = draw(st.integers(0, 2))
    plat = platform(cores=cores, gpus=gpus, nodes=nodes)
    names = ["a", "b"]
    left_c, left_g = plat.total_cores, plat.total_gpus
    pools = {}
    for n in names:
        c = draw(st.integers(0, left_c))
        g = draw(st.integers(0, left_g))
        pools[n] = Quota(cores=c, gpus=g)
        left_c -= c
        left_g -= g
    steps = draw(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 10_000)), min_size=10,
                          max_size=60))
    return dict(plat=plat, pools=pools, steps=steps, cores=cores, gpus=gpus,
                order=draw(st.sampled_from(list(Order))), backfill=draw(st.booleans()))


class Checker:
    """Drives a scheduler with pools and checks every action against its own bookkeeping."""

    def __init__(self, sc: dict[str, Any]) -> None:
        self.core = Scheduler(sc["plat"], Policy(order=sc["order"], backfill=sc["backfill"]),
                              pools=sc["pools"])
        self.plat = sc["plat"]
        self.quota = {n: [q.cores, q.gpus] for n, q in sc["pools"].items()}
        rest_c = self.plat.total_cores - sum(q.cores for q in sc["pools"].values())
        rest_g = self.plat.total_gpus - sum(q.gpus for q in sc["pools"].values())
        self.quota[DEFAULT_POOL] = [rest_c, rest_g]
        self.used = {n: [0, 0] for n in self.quota}
        self.pool_of: dict[int, str] = {}
        self.specs: dict[int, TaskSpec] = {}
        self.held: dict[int, list[Any]] = {}     # task -> [node, cores, gpus]
        self.alive: set[int] = set()             # launched, not exited
        self.ended: set[int] = set()
        self.killed: set[int] = set()            # told to end: their exit comes
        self.now = 0.0
        self.n = 0

    def apply(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Launch | Resume) and (isinstance(a, Launch) or a.placement):
                tid = a.task_id
                pool = self.pool_of[tid]
                slot = a.placement.slots[0]
                new_c = len(slot.cores)
                new_g = len(slot.gpus) if isinstance(a, Launch) else 0
                u, q = self.used[pool], self.quota[pool]
                assert u[0] + new_c <= q[0] and u[1] + new_g <= q[1], "admitted over quota"
                u[0] += new_c
                u[1] += new_g
                self.held[tid] = [slot.node, set(slot.cores), set(slot.gpus)]
                self.alive.add(tid)
                self.check_ids()
            elif isinstance(a, Pause) and a.release:
                h = self.held[a.task_id]
                self.used[self.pool_of[a.task_id]][0] -= len(h[1])
                h[1] = set()
            elif isinstance(a, Kill):
                self.killed.add(a.task_id)
            elif isinstance(a, Resolve):
                assert a.task_id not in self.ended
                self.ended.add(a.task_id)

    def check_ids(self) -> None:
        seen: set[tuple[str, str]] = set()
        for node, cs, gs in self.held.values():
            for x in [*(f"c{c}" for c in cs), *(f"g{g}" for g in gs)]:
                assert (node, x) not in seen, "oversubscribed"
                seen.add((node, x))
        for n, (c, g) in self.used.items():
            assert c >= 0 and g >= 0, n

    def exit(self, tid: int, failed: bool = False) -> None:
        _node, cs, gs = self.held.pop(tid)
        pool = self.pool_of[tid]
        self.used[pool][0] -= len(cs)
        self.used[pool][1] -= len(gs)
        self.alive.discard(tid)
        self.now += 0.5
        from tandem.core.values import Failure, FailureKind
        f = Failure(kind=FailureKind.EXIT, message="x", exit_code=1) if failed else None
        self.apply(self.core.handle(Exited(tid, f), self.now))

    def send(self, ev: Any) -> None:
        self.apply(self.core.handle(ev, self.now))

    def submit(self, pool: str, cores: int, gpus: int) -> None:
        tid = self.n
        self.n += 1
        s = pooled(f"t{tid}", None if pool == DEFAULT_POOL else pool, cores, gpus)
        self.pool_of[tid] = pool
        self.specs[tid] = s
        self.send(Submitted(task_id=tid, spec=s))

    def move(self, src: str, dst: str, cores: int, gpus: int) -> None:
        self.quota[src][0] -= cores
        self.quota[src][1] -= gpus
        self.quota[dst][0] += cores
        self.quota[dst][1] += gpus
        self.send(QuotaMoved(source=src, target=dst, cores=cores, gpus=gpus))


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_pools_never_oversubscribe_and_every_task_ends(sc: dict[str, Any]) -> None:
    ck = Checker(sc)
    core = ck.core
    names = list(ck.quota)
    for op, r in sc["steps"]:
        alive = sorted(ck.alive)
        if op <= 2:
            c = r % (sc["cores"] + 1)
            g = (r // 7) % (sc["gpus"] + 1)
            ck.submit(names[r % len(names)], c or (0 if g else 1), g)
        elif op == 3 and alive:
            ck.exit(alive[r % len(alive)], failed=r % 5 == 0)
        elif op == 4:
            src, dst = names[r % 3], names[(r // 3) % 3]
            if src != dst:
                ck.move(src, dst, (r // 9) % (ck.quota[src][0] + 1),
                        (r // 11) % (ck.quota[src][1] + 1))
        elif op == 5 and alive:
            ck.send(PauseRequested(task_id=alive[r % len(alive)], release=r % 2 == 0))
        elif op == 6 and ck.n:
            stopped = [t for t in range(ck.n) if core.state(t) in (S.PAUSED, S.SUSPENDED)]
            ck.send(ResumeRequested(task_id=stopped[r % len(stopped)] if stopped else r % ck.n))
        elif op == 7 and alive:
            ck.send(PreemptRequested(task_id=alive[r % len(alive)], grace=1.0,
                                     signal=signal.SIGTERM))
        elif op == 8 and ck.n:
            ck.send(CancelRequested(task_id=r % ck.n, reason="property", by="test"))
    # Drain: resume what is stopped, end what runs; when nothing runs, give a waiting task's
    # pool the whole platform's quota so that it must start (a suspended task keeps its GPUs
    # and needs its pool's quota for cores again: it goes first).
    for _ in range(10 * ck.n + 10):
        if core.unfinished == 0:
            break
        for tid in range(ck.n):
            if core.state(tid) in (S.PAUSED, S.SUSPENDED):
                ck.send(ResumeRequested(task_id=tid))
        alive = sorted(t for t in ck.alive
                       if core.state(t) is not S.RESUMING or t in ck.killed)
        if alive:
            ck.exit(alive[0])
            continue
        # Resuming tasks first: they hold GPUs others may need.
        waiting = [t for t in range(ck.n) if core.state(t) is S.RESUMING] + \
            [t for t in range(ck.n) if core.state(t) is S.READY]
        assert waiting, "unfinished tasks but none waiting or running"
        target = ck.pool_of[waiting[0]]
        for src in names:
            if src != target and (ck.quota[src][0] or ck.quota[src][1]):
                ck.move(src, target, ck.quota[src][0], ck.quota[src][1])
        assert ck.alive, f"task {waiting[0]} cannot start with every quota in its pool"
    assert core.unfinished == 0
    assert all(core.state(t) in FINAL for t in range(ck.n))
    assert ck.ended == set(range(ck.n))
    assert core.pool.free_cores == ck.plat.total_cores
    assert core.pool.free_gpus == ck.plat.total_gpus
    assert all(u == [0, 0] for u in ck.used.values())
    usage = core.pool_usage()
    assert all(u.used_cores == 0 and u.used_gpus == 0 for u in usage.values())
    assert sum(u.quota_cores for u in usage.values()) == ck.plat.total_cores
