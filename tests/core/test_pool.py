"""The resource pool (tandem.core.pool): exact ids, first fit, best fit, fragmentation, MPI
ranks, releases and reservations; and where a task without cores is pinned."""

from __future__ import annotations

import math

import pytest

from tandem.core.events import Exited, Submitted
from tandem.core.pool import Fit, ResourcePool
from tandem.core.scheduler import Scheduler
from tandem.core.values import Placement, Slot, Walltime
from tandem.errors import TandemInternalError
from tandem.spec import Node, Platform, Resources

from .helpers import platform, spec


def R(cores: int = 1, gpus: int = 0, ranks: int = 1) -> Resources:
    return Resources(cores=cores, gpus=gpus, ranks=ranks)


def nodes(*cores: int, gpus: int = 0) -> Platform:
    return Platform(nodes=tuple(Node(name=f"n{i}", cores=tuple(range(c)),
                                     gpus=tuple(str(g) for g in range(gpus)))
                                for i, c in enumerate(cores)))


def test_first_fit_takes_the_lowest_node_and_the_lowest_ids() -> None:
    pool = ResourcePool(nodes(4, 4))
    a = pool.try_place(R(2))
    b = pool.try_place(R(1))
    c = pool.try_place(R(2))
    assert a is not None and (a.node, a.cores) == ("n0", (0, 1))
    assert b is not None and (b.node, b.cores) == ("n0", (2,))
    assert c is not None and (c.node, c.cores) == ("n1", (0, 1))   # n0 has one core left
    assert pool.free_cores == 3
    pool.release(a, R(2))
    d = pool.try_place(R(2))
    assert d is not None and (d.node, d.cores) == ("n0", (0, 1))   # freed ids come back


def test_best_fit_takes_the_node_it_leaves_fullest() -> None:
    pool = ResourcePool(nodes(8, 4, 2), Fit.BEST_FIT)
    a = pool.try_place(R(2))
    assert a is not None and a.node == "n2"          # leaves 0 free there
    b = pool.try_place(R(3))
    assert b is not None and b.node == "n1"          # leaves 1 (n0 would leave 5)
    c = pool.try_place(R(1))
    assert c is not None and c.node == "n1"
    first = ResourcePool(nodes(8, 4, 2))
    f = first.try_place(R(2))
    assert f is not None and f.node == "n0"


def test_fragmentation_a_request_fits_no_node_although_enough_cores_are_free() -> None:
    pool = ResourcePool(nodes(2, 2))
    one = pool.try_place(R(1))
    two = pool.try_place_on("n1", R(1))
    assert one is not None and two is not None and one.node == "n0"
    assert pool.free_cores == 2
    assert pool.try_place(R(2)) is None               # one free core on each node
    assert pool.try_place(R(1, ranks=2)) is not None   # but two one-core ranks fit


def test_best_fit_avoids_the_fragmentation_that_first_fit_makes() -> None:
    def run(fit: Fit) -> bool:
        pool = ResourcePool(nodes(4, 2), fit)
        assert pool.try_place(R(2)) is not None
        return pool.try_place(R(4)) is not None
    assert not run(Fit.FIRST_FIT)     # first fit splits the 4-core node
    assert run(Fit.BEST_FIT)          # best fit fills the 2-core node first


def test_gpus_memory_and_mpi_ranks() -> None:
    pool = ResourcePool(nodes(4, 4, gpus=2))
    g = pool.try_place(R(1, gpus=2))
    assert g is not None and g.gpus == ("0", "1") and g.node == "n0"
    h = pool.try_place(R(1, gpus=1))
    assert h is not None and h.node == "n1"
    mpi = pool.try_place(R(1, ranks=5))      # packs each node before the next
    assert mpi is not None
    assert [(x.node, x.cores) for x in mpi.slots] == [
        ("n0", (1,)), ("n0", (2,)), ("n0", (3,)), ("n1", (1,)), ("n1", (2,))]
    assert pool.try_place(R(1, ranks=2)) is None     # only one core left
    assert pool.free_gpus == 1


def test_never_oversubscribed_and_a_double_release_raises() -> None:
    pool = ResourcePool(nodes(2))
    a = pool.try_place(R(1))
    b = pool.try_place(R(1))
    assert a is not None and b is not None and a.cores != b.cores
    assert pool.try_place(R(1)) is None
    assert pool.held() == {"n0": ({0, 1}, set())}
    pool.release(a, R(1))
    with pytest.raises(TandemInternalError, match="released twice"):
        pool.release(a, R(1))
    two = Placement(slots=(Slot(node="n0", cores=(0,)),))
    with pytest.raises(TandemInternalError, match="released twice"):
        pool.release(two, R(1))


def test_try_place_on_a_node_and_free_on() -> None:
    pool = ResourcePool(nodes(2, 2))
    p = pool.try_place_on("n1", R(2))
    assert p is not None and p.node == "n1"
    assert pool.try_place_on("n1", R(1)) is None
    assert pool.free_on("n0") == (2, 0) and pool.free_on("n1") == (0, 0)


def test_free_core_ids_and_last_core() -> None:
    pool = ResourcePool(nodes(4, gpus=1))
    assert pool.free_core_ids("n0") == (0, 1, 2, 3)
    p = pool.try_place(R(2))
    assert p is not None
    assert pool.free_core_ids("n0") == (2, 3)
    assert pool.last_core("n0") == (3,)
    gpu_only = ResourcePool(Platform(nodes=(Node(name="g", cores=(), gpus=("0",)),)))
    assert gpu_only.free_core_ids("g") == () and gpu_only.last_core("g") == ()


def test_reserve_finds_when_and_where_a_blocked_request_fits() -> None:
    pool = ResourcePool(nodes(2, 2))
    a = pool.try_place(R(2))
    b = pool.try_place(R(2))
    assert a is not None and b is not None
    res = pool.reserve(R(2), iter([(5.0, b), (9.0, a)]), 0.0)
    assert res is not None and (res.at, res.node, res.spare_cores) == (5.0, "n1", 0)
    assert pool.reserve(R(2), iter([(math.inf, a)]), 0.0) is not None
    assert pool.reserve(R(2), iter([]), 0.0) is None
    assert pool.reserve(R(1, ranks=2), iter([]), 0.0) is None     # multi-rank: no reservation


def test_a_task_without_cores_is_pinned_to_the_free_cores_of_its_node() -> None:
    core = Scheduler(platform(cores=4, gpus=1))
    sim = core.handle(Submitted(task_id=0, spec=spec("sim", cores=3)), 0.0)
    train = core.handle(Submitted(task_id=1, spec=spec("train", cores=0, gpus=1)), 0.0)
    assert sim[0].shared_cores == ()                       # type: ignore[union-attr]
    assert train[0].placement.cores == ()                  # type: ignore[union-attr]
    assert train[0].shared_cores == (3,)                   # type: ignore[union-attr]
    core.handle(Exited(1), 1.0)
    core.handle(Submitted(task_id=2, spec=spec("more", cores=1)), 1.0)
    again = core.handle(Submitted(task_id=3, spec=spec("train2", cores=0, gpus=1)), 1.0)
    assert core.pool.free_cores == 0
    assert again[0].shared_cores == (3,)     # every core taken: the node's last core


def test_a_task_without_cores_on_a_full_node_gets_the_last_core() -> None:
    core = Scheduler(platform(cores=2, gpus=1))
    core.handle(Submitted(task_id=0, spec=spec("sim", cores=2)), 0.0)
    out = core.handle(Submitted(task_id=1, spec=spec("train", cores=0, gpus=1)), 0.0)
    assert out[0].shared_cores == (1,)                     # type: ignore[union-attr]


def test_release_cores_gives_back_the_cores_and_keeps_node_and_gpus() -> None:
    pool = ResourcePool(nodes(4, gpus=1))
    p = pool.try_place(Resources(cores=2, gpus=1))
    assert p is not None and pool.free_cores == 2 and pool.free_gpus == 0
    left = pool.release_cores(p)
    assert left.node == p.node and left.cores == () and left.gpus == p.gpus
    assert pool.free_cores == 4 and pool.free_gpus == 0
    assert pool.shared_cores("n0") == (0, 1, 2, 3)


def test_a_request_of_nothing_fits_any_live_node_at_any_time() -> None:
    pool = ResourcePool(nodes(1, 1))
    full = [pool.try_place(R(1)), pool.try_place(R(1))]
    assert all(p is not None for p in full) and not pool.can_fit_anything()
    light = pool.try_place(R(0))
    assert light is not None and (light.node, light.cores, light.gpus) == ("n0", (), ())
    pool.release(light, R(0))
    assert pool.free_cores == 0
    pool.lose("n0")
    again = pool.try_place(R(0))
    assert again is not None and again.node == "n1"      # never on a lost node
    pool.lose("n1")
    assert pool.try_place(R(0)) is None


def test_a_task_that_needs_nothing_starts_while_every_core_is_held() -> None:
    """A stream's reader (cores=0, gpus=0) launches at once on a full machine, in every
    pass: one shape, several shapes, behind a blocked task, and with a walltime."""
    for wall in (None, 1000.0):
        core = Scheduler(platform(cores=2), walltime=Walltime(ends_at=wall) if wall else None)
        core.handle(Submitted(task_id=0, spec=spec("sim", cores=2, estimate=5.0)), 0.0)
        core.handle(Submitted(task_id=1, spec=spec("big", cores=2, estimate=5.0)), 0.0)
        out = core.handle(Submitted(task_id=2, spec=spec("reader", cores=0, estimate=1.0)),
                          0.0)
        assert [a.task_id for a in out] == [2]            # type: ignore[union-attr]
        assert out[0].placement.cores == ()               # type: ignore[union-attr]
        assert out[0].shared_cores == (1,)                # type: ignore[union-attr]
        assert core.pool.free_cores == 0
    only = Scheduler(platform(cores=1))
    only.handle(Submitted(task_id=0, spec=spec("sim", cores=1)), 0.0)
    readers = [only.handle(Submitted(task_id=i, spec=spec(f"r{i}", cores=0)), 0.0)
               for i in (1, 2)]
    assert [[a.task_id for a in out] for out in readers] == [[1], [2]]  # type: ignore[union-attr]
