"""A task's key and inputs: what the history files it under and learns from."""

from __future__ import annotations

import pytest

from tandem.errors import SpecError
from tandem.history.describe import KeyCache, inputs_of, key_of, set_of, size_of
from tandem.spec import Executable, FunctionCall, Mock, Resources, TaskSpec


def simulate(n: int, data: object = None) -> None:
    return None


class Arrayish:
    nbytes = 4096


def test_a_key_is_the_work_and_the_set_the_name_says() -> None:
    fn = FunctionCall(fn=simulate, args=(3,))
    assert key_of(TaskSpec(name=fn.label, work=fn)) == f"{__name__}.simulate"
    assert key_of(TaskSpec(name="md.7", work=fn)) == f"{__name__}.simulate@md"
    assert key_of(TaskSpec(name="x", work=Executable(argv=("/usr/bin/sleep", "1")))) == \
        "sleep@x"
    assert key_of(TaskSpec(name="sleep", work=Executable(argv=("sleep", "1")))) == "sleep"
    assert key_of(TaskSpec(name="sim.12", work=Mock(seconds=1))) == "mock@sim"
    assert set_of("sim.12") == "sim" and set_of("sim") == "sim"


def test_sizes_are_lengths_nbytes_and_values_never_pickles() -> None:
    assert size_of("abcd") == 4 and size_of([1, 2, 3]) == 3 and size_of(b"xy") == 2
    assert size_of(Arrayish()) == 4096 and size_of(2.5) == 2.5
    assert size_of(object()) is None and size_of(True) is None
    spec = TaskSpec(name="t", work=FunctionCall(fn=simulate, args=(10,),
                                                kwargs={"data": [0] * 5}),
                    resources=Resources(cores=2), features={"model": "cvae", "atoms": 100})
    assert inputs_of(spec) == {"cores": 2.0, "gpus": 0.0, "ranks": 1.0, "arg0": 10.0,
                               "kw.data": 5.0, "f.model": "cvae", "f.atoms": 100.0}


def test_the_key_cache_gives_the_key_of_each_function_and_name() -> None:
    keys = KeyCache()
    a = TaskSpec(name="a", work=FunctionCall(fn=simulate))
    b = TaskSpec(name="b", work=FunctionCall(fn=simulate))
    assert [keys.of(a), keys.of(b), keys.of(a)] == [key_of(a), key_of(b), key_of(a)]


@pytest.mark.parametrize(("features", "says"), [
    ({"n": [1]}, "features['n'] must be a finite number or a string"),
    ({"n": float("nan")}, "features['n']"),
    ({"": 1}, "a name must be a non-empty string"),
    ([1, 2], "features must be a mapping"),
])
def test_bad_features_name_the_task_and_the_key(features: object, says: str) -> None:
    with pytest.raises(SpecError, match="task 'md'") as e:
        TaskSpec(name="md", work=Mock(seconds=1), features=features)  # type: ignore[arg-type]
    assert says in str(e.value)
