"""tandem.data.segments and tandem.data.refs: the segment format, mapping without a copy,
copy-on-write, errors that name the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tandem.data import segments
from tandem.data.refs import DataRef


def _write(path: Path, value: object) -> int:
    main, buffers = segments.dumps(value)
    return segments.write(str(path), main, buffers)


def test_a_value_with_arrays_comes_back_equal_and_its_arrays_read_the_mapping(tmp_path: Path):
    a = np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000)
    value = {"a": a, "b": b"bytes", "n": [1, 2.5, "x"], "f": np.asfortranarray(a[:10])}
    size = _write(tmp_path / "s", value)
    assert size == os.path.getsize(tmp_path / "s")
    assert size >= a.nbytes
    back = segments.load(str(tmp_path / "s"))
    assert back["b"] == b"bytes" and back["n"] == [1, 2.5, "x"]
    np.testing.assert_array_equal(back["a"], a)
    np.testing.assert_array_equal(back["f"], value["f"])
    # the array's memory is the mapping of the file, not a copy
    with open("/proc/self/maps") as f:
        at = back["a"].ctypes.data
        spans = [line.split()[0].split("-") for line in f if line.rstrip().endswith("/s")]
    assert any(int(lo, 16) <= at < int(hi, 16) for lo, hi in spans)
    assert back["a"].ctypes.data % segments.ALIGN == 0


def test_writing_to_a_mapped_array_changes_only_this_mapping(tmp_path: Path):
    _write(tmp_path / "s", np.zeros(1000))
    first = segments.load(str(tmp_path / "s"))
    first[:] = 7.0
    again = segments.load(str(tmp_path / "s"))
    assert again.sum() == 0.0 and first.sum() == 7000.0


def test_a_mapping_outlives_the_files_name(tmp_path: Path):
    _write(tmp_path / "s", np.ones(10))
    view = segments.view(str(tmp_path / "s"))
    os.unlink(tmp_path / "s")
    assert segments.parse(view, "s").sum() == 10.0


def test_segments_are_never_rewritten_and_errors_name_the_file(tmp_path: Path):
    _write(tmp_path / "s", 1)
    with pytest.raises(segments.SegmentError, match="could not create segment .*/s"):
        _write(tmp_path / "s", 2)
    with pytest.raises(segments.SegmentError, match="not on this node"):
        segments.load(str(tmp_path / "missing"))
    (tmp_path / "junk").write_bytes(b"not a segment at all")
    with pytest.raises(segments.SegmentError, match="junk is not a tandem segment"):
        segments.load(str(tmp_path / "junk"))


def test_many_buffers_are_written_in_chunks(tmp_path: Path):
    value = [np.full(3, i) for i in range(1500)]      # more buffers than one writev takes
    _write(tmp_path / "s", value)
    back = segments.load(str(tmp_path / "s"))
    assert [int(x[0]) for x in back] == list(range(1500))


def test_a_data_ref_pickles_as_loading_its_segment(tmp_path: Path):
    _write(tmp_path / "s", np.arange(5))
    ref = DataRef(str(tmp_path / "s"), 100, "n0", 3)
    assert not ref.loaded
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ref)), np.arange(5))
    assert ref.value() is ref.value()             # mapped once, then the same object
    assert "task 3 on n0" in repr(ref)


def test_a_pinned_ref_gives_its_value_after_the_file_is_removed(tmp_path: Path):
    _write(tmp_path / "s", np.arange(5))
    ref = DataRef(str(tmp_path / "s"), 100, "n0", 3)
    ref.pin()
    os.unlink(tmp_path / "s")
    np.testing.assert_array_equal(ref.value(), np.arange(5))


def test_a_lost_ref_says_whose_result_and_which_node_unless_it_was_mapped(tmp_path: Path):
    _write(tmp_path / "s", np.arange(5))
    ref = DataRef(str(tmp_path / "s"), 100, "n2", 3)
    ref.lose("node 'n2' was lost")
    with pytest.raises(segments.SegmentError,
                       match="result of task 3, kept on node 'n2', is lost: node 'n2' was lost"):
        ref.value()
    with pytest.raises(segments.SegmentError, match="task 3"):
        pickle.dumps(ref)
    mapped = DataRef(str(tmp_path / "s"), 100, "n2", 4)
    mapped.pin()                                  # this process mapped it before the loss
    mapped.lose("node 'n2' was lost")
    os.unlink(tmp_path / "s")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(mapped)), np.arange(5))
