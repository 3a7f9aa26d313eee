"""Aggregation: gather the frames of many simulation segments into one HDF5 file.

Contract: this module reads segment HDF5 files (the format in :mod:`tandem_apps.ddmd.types`) and
writes or reads aggregated files; it imports numpy and h5py only. Every input problem — a missing
file, a file that is not HDF5, a missing dataset or attribute, a shape that disagrees — raises
:class:`DataFileError` naming the file (and the key). Outputs are written to a temporary file in
the target directory and renamed into place, so a reader never sees half a file.

An aggregated file holds the per-frame datasets ``contact_map``, ``rmsd``, ``fnc`` and
``time_ps`` concatenated in input order, ``source`` (int32, frames x 2: index into the ``files``
attribute, frame within that file) and the per-file attributes ``files``, ``dcds``,
``topologies``, ``lineages`` and ``segments``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

FRAME_DATASETS: tuple[str, ...] = ("contact_map", "rmsd", "fnc", "time_ps")
SEGMENT_ATTRS: tuple[str, ...] = ("lineage", "segment", "dcd", "topology")
# Per-file attributes of an aggregated file, in the order they are written.
AGGREGATE_ATTRS: tuple[str, ...] = ("files", "dcds", "topologies", "lineages", "segments")
# HDF5 1.8 object headers let attributes grow beyond 64 KiB (thousands of file names).
_LIBVER = ("v108", "latest")


class DataFileError(ValueError):
    """An input data file is missing, unreadable or not in the expected format."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True, eq=False)
class Frames:
    """Frames of one or more segments, each traceable to its file, DCD and frame.

    ``source[i] = (j, k)``: frame ``i`` is frame ``k`` of ``files[j]`` (and of ``dcds[j]``).
    """

    contact_map: npt.NDArray[np.uint8]  # frames x R x R
    rmsd: npt.NDArray[np.float32]
    fnc: npt.NDArray[np.float32]
    time_ps: npt.NDArray[np.float32]
    source: npt.NDArray[np.int32]  # frames x 2
    files: tuple[str, ...]
    dcds: tuple[str, ...]
    topologies: tuple[str, ...]
    lineages: tuple[int, ...]
    segments: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(self.contact_map.shape[0])

    @property
    def residues(self) -> int:
        return int(self.contact_map.shape[1])


def aggregate(h5_files: Sequence[str], out: str) -> str:
    """Concatenate the frames of the segment files ``h5_files`` into ``out``; return ``out``.

    Every file must hold the same number of residues. Raises :class:`DataFileError` naming the
    first file that is missing or malformed, and ``ValueError`` when ``h5_files`` is empty.
    """
    frames = read_segments(h5_files)
    write_aggregate(frames, out)
    return os.path.abspath(out)


def read_segments(h5_files: Sequence[str]) -> Frames:
    """Read and check the segment files ``h5_files``, in order, into one :class:`Frames`."""
    if isinstance(h5_files, str):
        raise TypeError("h5_files must be a sequence of paths, not one string")
    if len(h5_files) == 0:
        raise ValueError("no segment files to read")
    parts: list[dict[str, Any]] = []
    residues: int | None = None
    for path in h5_files:
        part = _read_segment(os.path.abspath(path))
        r = int(part["contact_map"].shape[1])
        if residues is not None and r != residues:
            raise DataFileError(
                part["file"], f"contact_map is {r}x{r} but earlier files are {residues}x{residues}"
            )
        residues = r
        parts.append(part)
    return combine(parts)


def combine(parts: Sequence[dict[str, Any]]) -> Frames:
    """Concatenate segments given as dicts (the per-frame arrays of :data:`FRAME_DATASETS`
    and ``file``, ``dcd``, ``topology``, ``lineage``, ``segment``), in order: what
    :func:`read_segments` does after reading, and what aggregation does in memory."""
    if len(parts) == 0:
        raise ValueError("no segments to combine")
    sources = [
        np.stack([np.full(len(p["rmsd"]), j, np.int32), np.arange(len(p["rmsd"]), dtype=np.int32)],
                 axis=1)
        for j, p in enumerate(parts)
    ]
    return Frames(
        contact_map=np.concatenate([p["contact_map"] for p in parts]).astype(np.uint8, copy=False),
        rmsd=np.concatenate([p["rmsd"] for p in parts]).astype(np.float32, copy=False),
        fnc=np.concatenate([p["fnc"] for p in parts]).astype(np.float32, copy=False),
        time_ps=np.concatenate([p["time_ps"] for p in parts]).astype(np.float32, copy=False),
        source=np.concatenate(sources).reshape(-1, 2),
        files=tuple(p["file"] for p in parts),
        dcds=tuple(p["dcd"] for p in parts),
        topologies=tuple(p["topology"] for p in parts),
        lineages=tuple(p["lineage"] for p in parts),
        segments=tuple(p["segment"] for p in parts),
    )


def read_aggregate(path: str) -> Frames:
    """Read an aggregated file written by :func:`aggregate`, checking every key and shape."""
    path = os.path.abspath(path)
    with _open(path) as f:
        data = _read_frame_datasets(f, path)
        source = _dataset(f, path, "source")
        attrs = {key: _attr(f, path, key) for key in AGGREGATE_ATTRS}
    n = len(data["rmsd"])
    if source.ndim != 2 or source.shape != (n, 2):
        raise DataFileError(path, f"'source' has shape {source.shape}, expected ({n}, 2)")
    files = _str_list(attrs["files"], path, "files")
    dcds = _str_list(attrs["dcds"], path, "dcds")
    topologies = _str_list(attrs["topologies"], path, "topologies")
    lineages = _int_list(attrs["lineages"], path, "lineages")
    segments = _int_list(attrs["segments"], path, "segments")
    for key, count in (("dcds", len(dcds)), ("topologies", len(topologies)),
                       ("lineages", len(lineages)), ("segments", len(segments))):
        if count != len(files):
            raise DataFileError(
                path, f"attribute '{key}' has {count} entries but 'files' has {len(files)}"
            )
    if n and (source[:, 0].min() < 0 or source[:, 0].max() >= len(files) or source[:, 1].min() < 0):
        raise DataFileError(path, "'source' points outside the 'files' attribute")
    return Frames(
        contact_map=data["contact_map"], rmsd=data["rmsd"], fnc=data["fnc"],
        time_ps=data["time_ps"], source=source.astype(np.int32, copy=False), files=tuple(files),
        dcds=tuple(dcds), topologies=tuple(topologies), lineages=tuple(lineages),
        segments=tuple(segments),
    )


def read_frames(data: str | Sequence[str]) -> Frames:
    """Frames from an aggregated file, a single segment file, or a sequence of segment files."""
    if isinstance(data, str):
        with _open(os.path.abspath(data)) as f:
            aggregated = "source" in f
        return read_aggregate(data) if aggregated else read_segments([data])
    return read_segments(data)


def write_aggregate(frames: Frames, out: str) -> None:
    """Write ``frames`` to ``out`` in the aggregated format, atomically."""
    out = os.path.abspath(out)
    directory = os.path.dirname(out)
    os.makedirs(directory, exist_ok=True)
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w", libver=_LIBVER) as f:
            f.create_dataset("contact_map", data=frames.contact_map, dtype=np.uint8)
            f.create_dataset("rmsd", data=frames.rmsd, dtype=np.float32)
            f.create_dataset("fnc", data=frames.fnc, dtype=np.float32)
            f.create_dataset("time_ps", data=frames.time_ps, dtype=np.float32)
            f.create_dataset("source", data=frames.source, dtype=np.int32)
            f.attrs["files"] = list(frames.files)
            f.attrs["dcds"] = list(frames.dcds)
            f.attrs["topologies"] = list(frames.topologies)
            f.attrs["lineages"] = np.asarray(frames.lineages, dtype=np.int64)
            f.attrs["segments"] = np.asarray(frames.segments, dtype=np.int64)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_contact_maps(path: str, max_frames: int | None = None) -> npt.NDArray[np.uint8]:
    """The ``contact_map`` dataset of a segment or aggregated file; the last ``max_frames`` only
    when given (the newest frames, as files are aggregated in order)."""
    path = os.path.abspath(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    with _open(path) as f:
        if "contact_map" not in f:
            raise DataFileError(path, "no dataset 'contact_map'")
        ds = f["contact_map"]
        _check_contact_shape(path, ds.shape)
        start = 0 if max_frames is None else max(0, ds.shape[0] - max_frames)
        return np.asarray(ds[start:], dtype=np.uint8)


# -- helpers -------------------------------------------------------------------------------------


def _open(path: str) -> h5py.File:
    if not os.path.exists(path):
        raise DataFileError(path, "file does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(path, f"cannot be read as HDF5 ({exc})") from exc


def _read_segment(path: str) -> dict[str, Any]:
    with _open(path) as f:
        part: dict[str, Any] = _read_frame_datasets(f, path)
        attrs = {key: _attr(f, path, key) for key in SEGMENT_ATTRS}
    part["file"] = path
    part["dcd"] = _scalar_str(attrs["dcd"], path, "dcd")
    part["topology"] = _scalar_str(attrs["topology"], path, "topology")
    part["lineage"] = _scalar_int(attrs["lineage"], path, "lineage")
    part["segment"] = _scalar_int(attrs["segment"], path, "segment")
    return part


def _read_frame_datasets(f: h5py.File, path: str) -> dict[str, np.ndarray]:
    data = {key: _dataset(f, path, key) for key in FRAME_DATASETS}
    _check_contact_shape(path, data["contact_map"].shape)
    n = data["contact_map"].shape[0]
    for key in FRAME_DATASETS[1:]:
        if data[key].shape != (n,):
            raise DataFileError(
                path, f"'{key}' has shape {data[key].shape}, expected ({n},) like 'contact_map'"
            )
    data["contact_map"] = data["contact_map"].astype(np.uint8, copy=False)
    for key in FRAME_DATASETS[1:]:
        data[key] = data[key].astype(np.float32, copy=False)
    return data


def _check_contact_shape(path: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 1:
        raise DataFileError(path, f"'contact_map' has shape {shape}, expected (frames, R, R)")


def _dataset(f: h5py.File, path: str, key: str) -> np.ndarray:
    if key not in f:
        raise DataFileError(path, f"no dataset '{key}'")
    obj = f[key]
    if not isinstance(obj, h5py.Dataset):
        raise DataFileError(path, f"'{key}' is not a dataset")
    try:
        return np.asarray(obj[()])
    except OSError as exc:
        raise DataFileError(path, f"dataset '{key}' cannot be read ({exc})") from exc


def _attr(f: h5py.File, path: str, key: str) -> Any:
    if key not in f.attrs:
        raise DataFileError(path, f"no attribute '{key}'")
    return f.attrs[key]


def _as_str(value: Any, path: str, key: str) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise DataFileError(path, f"attribute '{key}' holds {value!r}, expected a string")


def _scalar_str(value: Any, path: str, key: str) -> str:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return _as_str(value, path, key)


def _scalar_int(value: Any, path: str, key: str) -> int:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise DataFileError(path, f"attribute '{key}' holds {value!r}, expected an integer")


def _str_list(value: Any, path: str, key: str) -> list[str]:
    return [_as_str(v, path, key) for v in np.atleast_1d(np.asarray(value, dtype=object))]


def _int_list(value: Any, path: str, key: str) -> list[int]:
    return [_scalar_int(v, path, key) for v in np.atleast_1d(np.asarray(value))]
