"""Aggregation: concatenation, source indices, the aggregated format, and input errors."""

from __future__ import annotations

import os

import pytest

h5py = pytest.importorskip("h5py")

import numpy as np  # noqa: E402

from tandem_apps.ddmd.aggregate import (  # noqa: E402
    DataFileError,
    Frames,
    aggregate,
    read_aggregate,
    read_contact_maps,
    read_frames,
    read_segments,
    write_aggregate,
)
from tests.apps.ddmd.synthetic import R, band, noisy, write_segment, write_segments  # noqa: E402


def test_aggregate_concatenates_and_sources_map_back(tmp_path):
    files = write_segments(str(tmp_path / "runs"), [5, 3, 7])
    out = aggregate(files, str(tmp_path / "agg" / "data.h5"))
    assert out == str(tmp_path / "agg" / "data.h5")
    with h5py.File(out, "r") as f:
        cm, source = f["contact_map"][()], f["source"][()]
        assert cm.dtype == np.uint8 and cm.shape == (15, R, R)
        assert source.dtype == np.int32 and source.shape == (15, 2)
        for key in ("rmsd", "fnc", "time_ps"):
            assert f[key].dtype == np.float32 and f[key].shape == (15,)
        assert list(f.attrs["files"]) == files
        assert list(f.attrs["lineages"]) == [0, 1, 2]
        assert list(f.attrs["segments"]) == [0, 0, 0]
        assert list(f.attrs["dcds"]) == [os.path.join(os.path.dirname(p), "segment.dcd")
                                         for p in files]
        assert list(f.attrs["topologies"]) == ["/data/topology.pdb"] * 3
        for i in range(15):
            j, k = source[i]
            with h5py.File(f.attrs["files"][j], "r") as seg:
                assert np.array_equal(cm[i], seg["contact_map"][k])
                assert f["rmsd"][i] == seg["rmsd"][k]
                assert f["time_ps"][i] == seg["time_ps"][k]
    assert [tuple(s) for s in source[:6]] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]


def test_read_aggregate_equals_the_segments_it_came_from(tmp_path):
    files = write_segments(str(tmp_path), [4, 6])
    out = aggregate(files, str(tmp_path / "data.h5"))
    direct, stored = read_segments(files), read_aggregate(out)
    for key in ("contact_map", "rmsd", "fnc", "time_ps", "source"):
        assert np.array_equal(getattr(direct, key), getattr(stored, key)), key
    for key in ("files", "dcds", "topologies", "lineages", "segments"):
        assert getattr(direct, key) == getattr(stored, key), key
    assert stored.count == 10 and stored.residues == R


def test_read_frames_takes_an_aggregate_a_segment_or_a_list(tmp_path):
    files = write_segments(str(tmp_path), [4, 6])
    out = aggregate(files, str(tmp_path / "data.h5"))
    assert read_frames(out).count == 10
    assert read_frames(files).count == 10
    one = read_frames(files[1])
    assert one.count == 6 and one.files == (files[1],) and one.lineages == (1,)


def test_write_is_atomic_and_replaces(tmp_path):
    files = write_segments(str(tmp_path / "runs"), [3])
    out = str(tmp_path / "agg" / "data.h5")
    aggregate(files, out)
    aggregate(write_segments(str(tmp_path / "more"), [2, 2]), out)
    assert read_aggregate(out).count == 4
    assert os.listdir(tmp_path / "agg") == ["data.h5"]


def test_many_files_fit_in_the_attributes(tmp_path):
    n = 5000  # ~500 kB of names: beyond the 64 kB of a classic HDF5 object header
    names = tuple(f"/scratch/experiment/lineage{i:05d}/segment{i:05d}/segment.h5" for i in range(n))
    frames = Frames(
        contact_map=np.zeros((n, 3, 3), np.uint8), rmsd=np.zeros(n, np.float32),
        fnc=np.zeros(n, np.float32), time_ps=np.zeros(n, np.float32),
        source=np.stack([np.arange(n), np.zeros(n)], axis=1).astype(np.int32), files=names,
        dcds=names, topologies=names, lineages=tuple(range(n)), segments=tuple(range(n)),
    )
    out = str(tmp_path / "big.h5")
    write_aggregate(frames, out)
    back = read_aggregate(out)
    assert back.files == names and back.lineages == tuple(range(n))


def test_read_contact_maps_keeps_the_newest(tmp_path):
    rng = np.random.default_rng(0)
    maps = noisy(band(), 10, rng)
    path = write_segment(str(tmp_path), maps)
    assert np.array_equal(read_contact_maps(path, 4), maps[-4:])
    assert np.array_equal(read_contact_maps(path), maps)
    assert read_contact_maps(path, 50).shape == (10, R, R)
    with pytest.raises(ValueError, match="max_frames"):
        read_contact_maps(path, 0)


def test_missing_file_is_named(tmp_path):
    files = write_segments(str(tmp_path), [2])
    missing = str(tmp_path / "nope" / "segment.h5")
    with pytest.raises(DataFileError, match="does not exist") as info:
        aggregate([*files, missing], str(tmp_path / "out.h5"))
    assert info.value.path == missing and missing in str(info.value)
    assert not (tmp_path / "out.h5").exists()


def test_file_that_is_not_hdf5_is_named(tmp_path):
    bad = tmp_path / "segment.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataFileError, match="cannot be read as HDF5") as info:
        aggregate([str(bad)], str(tmp_path / "out.h5"))
    assert str(bad) in str(info.value)


def test_truncated_file_is_named(tmp_path):
    path = write_segments(str(tmp_path), [5])[0]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(DataFileError) as info:
        aggregate([path], str(tmp_path / "out.h5"))
    assert path in str(info.value)


@pytest.mark.parametrize("key", ["contact_map", "rmsd", "fnc", "time_ps"])
def test_missing_dataset_is_named(tmp_path, key):
    path = write_segments(str(tmp_path), [3])[0]
    with h5py.File(path, "a") as f:
        del f[key]
    with pytest.raises(DataFileError, match=f"no dataset '{key}'") as info:
        aggregate([path], str(tmp_path / "out.h5"))
    assert path in str(info.value)


@pytest.mark.parametrize("key", ["lineage", "segment", "dcd", "topology"])
def test_missing_attribute_is_named(tmp_path, key):
    path = write_segments(str(tmp_path), [3])[0]
    with h5py.File(path, "a") as f:
        del f.attrs[key]
    with pytest.raises(DataFileError, match=f"no attribute '{key}'") as info:
        aggregate([path], str(tmp_path / "out.h5"))
    assert path in str(info.value)


def test_wrongly_typed_attribute_is_named(tmp_path):
    path = write_segments(str(tmp_path), [3])[0]
    with h5py.File(path, "a") as f:
        f.attrs["lineage"] = "first"
    with pytest.raises(DataFileError, match="'lineage'.*expected an integer"):
        aggregate([path], str(tmp_path / "out.h5"))


def test_shape_disagreements_are_named(tmp_path):
    path = write_segments(str(tmp_path), [3])[0]
    with h5py.File(path, "a") as f:
        del f["rmsd"]
        f["rmsd"] = np.zeros(2, np.float32)
    with pytest.raises(DataFileError, match=r"'rmsd' has shape \(2,\), expected \(3,\)"):
        aggregate([path], str(tmp_path / "out.h5"))
    flat = write_segment(str(tmp_path / "flat"), np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(DataFileError, match="'contact_map' has shape"):
        aggregate([flat], str(tmp_path / "out.h5"))


def test_files_with_different_residue_counts_are_refused(tmp_path):
    first = write_segments(str(tmp_path / "a"), [3])[0]
    other = write_segments(str(tmp_path / "b"), [3], residues=12)[0]
    with pytest.raises(DataFileError, match="12x12 but earlier files are 15x15") as info:
        aggregate([first, other], str(tmp_path / "out.h5"))
    assert info.value.path == other


def test_aggregated_file_errors_name_the_key(tmp_path):
    out = aggregate(write_segments(str(tmp_path), [3, 2]), str(tmp_path / "data.h5"))
    with h5py.File(out, "a") as f:
        f.attrs["dcds"] = ["only-one"]
    with pytest.raises(DataFileError, match="'dcds' has 1 entries but 'files' has 2"):
        read_aggregate(out)
    with h5py.File(out, "a") as f:
        del f["source"]
    with pytest.raises(DataFileError, match="no dataset 'source'"):
        read_aggregate(out)


def test_no_inputs_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no segment files"):
        aggregate([], str(tmp_path / "out.h5"))
    with pytest.raises(TypeError, match="sequence of paths"):
        read_segments("one.h5")
