"""Learned estimates at submission: filled from the key's model, never over a given one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tandem.history.estimates import Estimates
from tandem.history.store import FILE, HistoryStore, Row
from tandem.spec import FunctionCall, Mock, TaskSpec


def work(n: int) -> None:
    return None


def rows(key: str, pairs: list[tuple[int, float]]) -> list[Row]:
    return [Row(key=key, kind="task", name="t", state="done", cores=1, gpus=0, ranks=1,
                memory_mb=None, features=None, sizes={"arg0": float(n)}, duration=d, node="n0",
                run="r", t=0.0) for n, d in pairs]


def test_a_task_without_an_estimate_gets_its_keys_median(tmp_path: Path) -> None:
    HistoryStore(tmp_path).add(rows("mock@sim", [(0, 1.0), (0, 2.0), (0, 9.0)]))
    est = Estimates(HistoryStore(tmp_path))
    est.start()
    got = est.fill(TaskSpec(name="sim.3", work=Mock(seconds=1)))
    assert (got.estimate, got.estimate_from) == (2.0, "learned")
    mine = TaskSpec(name="sim.4", work=Mock(seconds=1), estimate=0.5)
    assert est.fill(mine) is mine
    unknown = TaskSpec(name="other", work=Mock(seconds=1))
    assert est.fill(unknown) is unknown
    assert est.learned == 1


def test_a_boosted_key_predicts_from_the_arguments(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    key = f"{__name__}.work"
    HistoryStore(tmp_path).add(rows(key, [(n, 0.1 * n) for n in range(1, 101)] * 2))
    est = Estimates(HistoryStore(tmp_path))
    spec = TaskSpec(name="work", work=FunctionCall(fn=work, args=(60,)))
    got = est.fill(spec)
    assert got.estimate_from == "learned" and got.estimate == pytest.approx(6.0, rel=0.1)
    model = est.model(key)
    assert model is not None and model.kind == "boosted"
    again = est.fill(dataclasses.replace(spec))
    assert again.estimate == got.estimate      # from the cache of predictions


def test_only_keys_whose_inputs_vary_may_need_a_boosted_model(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    store.add(rows("same@sim", [(0, 1.0)] * 40))                   # one input value: a median
    store.add(rows("sweep@sim", [(n, 0.1 * n) for n in range(40)]))  # arg0 varies
    store.add(rows("few@sim", [(n, 0.1 * n) for n in range(5)]))     # too few samples
    assert store.varying_keys(30) == {"sweep@sim"}
    models = Estimates(store)
    assert models.model("same@sim").kind == "median"  # type: ignore[union-attr]


def test_a_corrupt_history_learns_nothing(tmp_path: Path) -> None:
    (tmp_path / FILE).write_text("garbage")
    store = HistoryStore(tmp_path)
    spec = TaskSpec(name="sim", work=Mock(seconds=1))
    assert Estimates(store).fill(spec) is spec
    assert store.broken
