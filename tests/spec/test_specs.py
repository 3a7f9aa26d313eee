"""Spec values validate on construction, with messages that say what and where."""

from __future__ import annotations

import os

import pytest

from tandem import Executable, FunctionCall, Node, Platform, Resources, TaskSpec
from tandem.errors import InfeasibleRequest, SpecError


def test_resources_defaults_and_totals() -> None:
    r = Resources(cores=2, gpus=1, ranks=3)
    assert (r.total_cores, r.total_gpus) == (6, 3)
    assert r.describe() == "3 ranks x (2 cores + 1 GPU)"
    assert Resources() == Resources(cores=1) and hash(Resources()) == hash(Resources(cores=1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cores": -1}, "cores must be >= 0"),
    ({"cores": 1.5}, "cores must be an integer"),
    ({"gpus": True}, "gpus must be an integer"),
    ({"ranks": 0}, "ranks must be >= 1"),
    ({"cores": 0, "gpus": 0, "ranks": 2}, "2 ranks must ask for at least one core or one GPU"),
    ({"memory_mb": -5}, "memory_mb must be >= 0"),
])
def test_bad_resources(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Resources(**kwargs)  # type: ignore[arg-type]


def test_bad_task_specs_name_the_task() -> None:
    call = FunctionCall(fn=print)
    with pytest.raises(SpecError, match="name must be a non-empty string"):
        TaskSpec(name="", work=call)
    with pytest.raises(SpecError, match="task 'x': timeout must be > 0"):
        TaskSpec(name="x", work=call, timeout=-1)
    with pytest.raises(SpecError, match="task 'x': estimate must be a number"):
        TaskSpec(name="x", work=call, estimate="long")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="task 'x': priority must be an integer"):
        TaskSpec(name="x", work=call, priority=1.5)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="task 'x': retries must be an integer >= 0"):
        TaskSpec(name="x", work=call, retries=-1)
    with pytest.raises(SpecError, match="work must be a FunctionCall, an Exec"):
        TaskSpec(name="x", work=print)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="task 'x': resources must be tandem.Resources"):
        TaskSpec(name="x", work=call, resources={"cores": 1})  # type: ignore[arg-type]


def test_executable_validation() -> None:
    with pytest.raises(SpecError, match="list of strings.*shell=True"):
        Executable(argv="ls -l")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="argv is empty"):
        Executable(argv=())
    with pytest.raises(SpecError, match=r"argv\[1\] must be a string"):
        Executable(argv=("ls", 3))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="env entry"):
        Executable(argv=("ls",), env={"A=B": "x"})
    assert Executable(argv="ls -l | wc", shell=True).argv == ("ls -l | wc",)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="must be callable"):
        FunctionCall(fn=3)  # type: ignore[arg-type]


def test_platform_validation() -> None:
    with pytest.raises(SpecError, match="needs at least one node"):
        Platform(nodes=())
    with pytest.raises(SpecError, match="core ids repeat"):
        Node(name="a", cores=(0, 0))
    with pytest.raises(SpecError, match="GPU ids repeat"):
        Node(name="a", cores=(0,), gpus=("1", "1"))
    with pytest.raises(SpecError, match="node names repeat"):
        Platform(nodes=(Node(name="a", cores=(0,)), Node(name="a", cores=(1,))))
    with pytest.raises(SpecError, match="no node named 'z'"):
        Platform.uniform(2, cores=2).node("z")


def test_feasibility_names_request_and_capacity() -> None:
    p = Platform.uniform(2, cores=4, gpus=1)
    p.check_feasible(Resources(cores=4, gpus=1))
    p.check_feasible(Resources(cores=4, ranks=2))
    with pytest.raises(InfeasibleRequest, match=r"task 'big': request for 5 cores.*4 cores"):
        p.check_feasible(Resources(cores=5), task="big")
    with pytest.raises(InfeasibleRequest, match="3 ranks"):
        p.check_feasible(Resources(cores=4, ranks=3))


def test_local_platform_reads_affinity_and_virtual_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    p = Platform.local(virtual_gpus=2)
    n = p.nodes[0]
    assert n.cores == tuple(sorted(os.sched_getaffinity(0)))
    if n.virtual_gpus:
        assert n.gpus == ("0", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    n = Platform.local().nodes[0]
    assert n.gpus == ("3", "5") and not n.virtual_gpus
    with pytest.raises(SpecError, match="virtual_gpus is only for machines without one"):
        Platform.local(virtual_gpus=1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert Platform.local().nodes[0].gpus == ()
    with pytest.raises(SpecError, match="not available to this process"):
        Platform.local(cores=[9999])


def test_with_estimate_changes_the_estimate_and_its_source_only() -> None:
    from tandem.spec import Mock

    spec = TaskSpec(name="md", work=Mock(seconds=1), kind="sim", priority=3,
                    features={"atoms": 10})
    got = spec.with_estimate(2.5, "learned")
    assert (got.estimate, got.estimate_from) == (2.5, "learned")
    assert (got.name, got.kind, got.priority, got.features, got.work) == \
        (spec.name, spec.kind, spec.priority, spec.features, spec.work)
    assert spec.estimate is None and spec.estimate_from == "user"
    with pytest.raises(SpecError, match="task 'md': estimate must be >= 0"):
        spec.with_estimate(-1.0, "learned")
    with pytest.raises(SpecError, match="estimate_from must be 'user' or 'learned'"):
        spec.with_estimate(1.0, "guessed")
