"""A call's arguments for a worker that cannot see the kept results: values, not references."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from tandem.backends.calls import dump_args_inline
from tandem.data import segments
from tandem.data.refs import DataRef


def test_kept_results_in_arguments_travel_by_value(tmp_path: Path) -> None:
    path = str(tmp_path / "seg")
    array = np.arange(300_000, dtype=np.float64)
    nbytes = segments.write(path, *segments.dumps(array))
    ref = DataRef(path, nbytes, "n1", 7)
    payload = dump_args_inline((ref, 3), {"also": [ref], "n": 1})
    assert len(payload) > array.nbytes          # the value is in the call itself
    os.unlink(path)                             # the receiver never needs the segment
    (a, three), kwargs = pickle.loads(payload)
    assert three == 3 and kwargs["n"] == 1
    assert np.array_equal(a, array) and np.array_equal(kwargs["also"][0], array)


def test_plain_arguments_stay_plain_pickles() -> None:
    payload = dump_args_inline((1, "a"), {"x": 2.0})
    assert pickle.loads(payload) == ((1, "a"), {"x": 2.0})
