"""Stable task keys: the same submission gets the same key and digest in any process; what
changes a key, what changes only the digest, and what changes neither."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.errors import SpecError
from tandem.journal.keys import Keys, code_digest, qualname
from tandem.spec.resources import Resources
from tandem.spec.task import Executable, FunctionCall, Mock, TaskSpec


def square(x: int) -> int:
    return x * x


def cube(x: int) -> int:
    return x * x * x


class Box:
    """A value whose repr is not its content."""

    def __init__(self, v: object) -> None:
        self.v = v


def fn_spec(fn: object = square, *args: object, name: str = "sq", key: str | None = None,
            **kw: object) -> TaskSpec:
    return TaskSpec(name=name, work=FunctionCall(fn=fn, args=args, kwargs=kw),  # type: ignore[arg-type]
                    key=key)


def no_future(obj: object) -> str | None:
    return None


def test_same_submissions_get_the_same_keys_in_order() -> None:
    a, b = Keys(no_future), Keys(no_future)
    first = [a.of(fn_spec(square, i % 3)) for i in range(6)]
    again = [b.of(fn_spec(square, i % 3)) for i in range(6)]
    assert first == again
    keys = [k for k, _ in first]
    assert len(set(keys)) == 6                       # identical ones differ by position
    assert keys[3] == keys[0] + ".1" and keys[0].startswith("sq.")


def test_arguments_name_and_kind_change_the_key_scheduling_does_not() -> None:
    k = Keys(no_future)
    base = k.of(fn_spec(square, 1))[0]
    assert Keys(no_future).of(fn_spec(square, 2))[0] != base
    assert Keys(no_future).of(fn_spec(square, 1, name="other"))[0] != base
    assert Keys(no_future).of(fn_spec(cube, 1))[0] != base
    spec = fn_spec(square, 1)
    resched = TaskSpec(name="sq", work=spec.work, resources=Resources(cores=2), priority=5,
                       retries=3, timeout=9.0, estimate=1.0)
    assert Keys(no_future).of(resched) == Keys(no_future).of(spec)


def test_a_given_key_is_kept_and_its_digest_follows_the_work() -> None:
    k = Keys(no_future)
    key, d1 = k.of(fn_spec(square, 1, key="point-1"))
    assert key == "point-1"
    _, d2 = Keys(no_future).of(fn_spec(square, 2, key="point-1"))
    assert d2 != d1
    with pytest.raises(SpecError, match="point-1.*already given"):
        k.of(fn_spec(square, 3, key="point-1"))


def test_dependency_digests_change_the_digest_not_the_key() -> None:
    a = Keys(no_future).of(fn_spec(square, 1), ["d1"])
    b = Keys(no_future).of(fn_spec(square, 1), ["d2"])
    assert a[0] == b[0] and a[1] != b[1]


def test_futures_among_arguments_are_replaced_by_their_keys() -> None:
    class Fut:
        def __init__(self, key: str) -> None:
            self.key = key

    def key_of(obj: object) -> str | None:
        return obj.key if isinstance(obj, Fut) else None

    one = Keys(key_of).of(fn_spec(square, Box(Fut("up.1"))))
    same = Keys(key_of).of(fn_spec(square, Box(Fut("up.1"))))
    other = Keys(key_of).of(fn_spec(square, Box(Fut("up.2"))))
    assert one == same and one[0] != other[0]


def test_sets_are_keyed_by_content_not_by_iteration_order() -> None:
    """String hashing is randomised per process: a set's order differs between runs, its key
    must not."""
    root = str(Path(__file__).resolve().parents[2])
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from tests.journal.test_keys import set_key; print(set_key())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}
                           ).stdout for seed in (1, 2, 3)}
    assert len(outs) == 1


def set_key() -> str:
    return Keys(no_future).of(fn_spec(square, Box({"alpha", "beta", "gamma", "delta"})))[0]


def test_code_digest_follows_the_code() -> None:
    assert code_digest(square) != code_digest(cube)
    assert code_digest(square) == code_digest(square)
    assert code_digest(functools.partial(square, 2)) != code_digest(functools.partial(square, 3))
    assert code_digest(len) == code_digest(len)               # a builtin: by name
    assert qualname(square) == f"{__name__}.square"
    assert qualname(Box(1).__init__) == f"{__name__}.Box.__init__"


def test_executables_by_argv_digest_by_environment() -> None:
    k = Keys(no_future)
    a = k.of(TaskSpec(name="run", work=Executable(argv=("sim", "--n", "1"))))
    b = Keys(no_future).of(TaskSpec(name="run", work=Executable(argv=("sim", "--n", "1"),
                                                                env={"OMP": "2"})))
    c = Keys(no_future).of(TaskSpec(name="run", work=Executable(argv=("sim", "--n", "2"))))
    assert a[0] == b[0] and a[1] != b[1] and c[0] != a[0]
    m1 = Keys(no_future).of(TaskSpec(name="m", work=Mock(seconds=1.0)))
    m2 = Keys(no_future).of(TaskSpec(name="m", work=Mock(seconds=2.0)))
    assert m1[0] != m2[0]


def test_unpicklable_arguments_say_what_to_do() -> None:
    import threading

    with pytest.raises(SpecError, match="key= or open the session with journal=False"):
        Keys(no_future).of(fn_spec(square, Box(threading.Lock())))
