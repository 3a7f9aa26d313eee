"""Tests of tandem.backends.local: the local backends execute only the node that is this
machine; the mock backend executes logical slots of any node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.backends.functions import FunctionBackend
from tandem.backends.local import local_unreachable
from tandem.backends.mock import MockBackend
from tandem.backends.process import ProcessBackend
from tandem.spec.platform import Node, Platform

HERE = tuple(sorted(os.sched_getaffinity(0)))


def one_node(**kw: object) -> Platform:
    return Platform(nodes=(Node(name="n0", **kw),))  # type: ignore[arg-type]


def test_this_machine_is_reachable() -> None:
    assert local_unreachable(Platform.local()) is None
    assert local_unreachable(Platform.local(cores=HERE[:1])) is None
    # a one-node platform whose cores exist here is this machine, whatever its name
    assert local_unreachable(Platform.uniform(1, cores=1)) is None


def test_two_nodes_are_not_this_machine() -> None:
    why = local_unreachable(Platform.uniform(2, cores=1))
    assert why is not None and "2 nodes" in why


def test_cores_missing_here() -> None:
    why = local_unreachable(one_node(cores=(HERE[0], 4095)))
    assert why is not None and "4095" in why and "'n0'" in why
    many = local_unreachable(one_node(cores=tuple(range(4000, 4020))))
    assert many is not None and "4000" in many and "..." in many and "4019" not in many


def test_gpus_must_exist_here_unless_virtual(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert local_unreachable(one_node(cores=HERE, gpus=("0",))) is None
    why = local_unreachable(one_node(cores=HERE, gpus=("0", "3")))
    assert why is not None and "GPUs [3]" in why and "virtual" in why
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_unreachable(one_node(cores=HERE, gpus=("0",))) is not None
    assert local_unreachable(one_node(cores=HERE, gpus=("0",), virtual_gpus=True)) is None


def test_backends_declare_their_nodes(tmp_path: Path) -> None:
    two = Platform.uniform(2, cores=1)
    local = Platform.local()
    for backend in (ProcessBackend(), FunctionBackend(tmp_path)):
        assert backend.unreachable(local) is None
        assert backend.unreachable(two) == local_unreachable(two)
    assert MockBackend().unreachable(two) is None  # logical slots of any node
    assert MockBackend().unreachable(Platform.uniform(1000, cores=64, gpus=8)) is None
