"""Reading DCD trajectories as OpenMM writes them (``openmm.app.DCDFile`` / ``DCDReporter``).

Contract: numpy and the standard library only. A DCD file is a sequence of Fortran unformatted
records (each framed by its byte length as a 4-byte integer, before and after): a header
(``CORD``, frame count, first step, interval, timestep, unit-cell flag), titles, the atom count,
then per frame an optional unit-cell record (6 float64) and three records of float32 x, y, z
in Å. Only little-endian files are read (what OpenMM writes on every platform it runs on).

The frame count is taken from the file size, not the header: a writer killed mid-frame leaves
a header that counts the partial frame, and that frame is not readable.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class DcdInfo:
    """Layout of one DCD file."""

    path: str
    n_atoms: int
    n_frames: int
    has_unit_cell: bool
    first_step: int
    interval: int
    header_bytes: int
    frame_bytes: int


def _record(f: BinaryIO, path: str, what: str) -> bytes:
    head = f.read(4)
    if len(head) != 4:
        raise ValueError(f"{path}: truncated DCD header (no {what} record)")
    (length,) = struct.unpack("<i", head)
    if length < 0 or length > 1 << 20:
        raise ValueError(f"{path}: not a little-endian DCD file ({what} record length {length})")
    body = f.read(length)
    tail = f.read(4)
    if len(body) != length or len(tail) != 4 or struct.unpack("<i", tail)[0] != length:
        raise ValueError(f"{path}: corrupt DCD header ({what} record)")
    return bytes(body)


def read_info(path: str) -> DcdInfo:
    """Parse the header of ``path``; FileNotFoundError or ValueError naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"DCD file not found: {path}")
    with open(path, "rb") as f:
        first = _record(f, path, "CORD")
        if len(first) != 84 or first[:4] != b"CORD":
            raise ValueError(f"{path}: not a DCD file (no CORD header)")
        icntrl = struct.unpack("<9if10i", first[4:])
        first_step, interval, has_cell = icntrl[1], icntrl[2], bool(icntrl[10])
        _record(f, path, "title")
        natoms_record = _record(f, path, "atom count")
        if len(natoms_record) != 4:
            raise ValueError(f"{path}: corrupt DCD header (atom count record)")
        (n_atoms,) = struct.unpack("<i", natoms_record)
        header_bytes = f.tell()
    if n_atoms <= 0:
        raise ValueError(f"{path}: DCD header declares {n_atoms} atoms")
    frame_bytes = 3 * (8 + 4 * n_atoms) + (56 if has_cell else 0)
    n_frames = (os.path.getsize(path) - header_bytes) // frame_bytes
    return DcdInfo(path=path, n_atoms=n_atoms, n_frames=n_frames, has_unit_cell=has_cell,
                   first_step=first_step, interval=interval, header_bytes=header_bytes,
                   frame_bytes=frame_bytes)


def _decode_frame(info: DcdInfo, raw: bytes, frame: int) -> npt.NDArray[np.float32]:
    offset = 56 if info.has_unit_cell else 0
    n = info.n_atoms
    out = np.empty((n, 3), dtype=np.float32)
    for axis in range(3):
        start = offset + axis * (8 + 4 * n)
        (before,) = struct.unpack_from("<i", raw, start)
        (after,) = struct.unpack_from("<i", raw, start + 4 + 4 * n)
        if before != 4 * n or after != 4 * n:
            raise ValueError(f"{info.path}: corrupt DCD frame {frame} (record length {before})")
        out[:, axis] = np.frombuffer(raw, dtype="<f4", count=n, offset=start + 4)
    return out


def read_frame(path: str, frame: int) -> npt.NDArray[np.float32]:
    """Positions (Å, float32, atoms x 3) of frame ``frame`` (0-based) of ``path``."""
    info = read_info(path)
    if not 0 <= frame < info.n_frames:
        raise ValueError(
            f"frame {frame} out of range for {path}: it holds {info.n_frames} frames"
            f" (valid 0..{info.n_frames - 1})"
        )
    with open(path, "rb") as f:
        f.seek(info.header_bytes + frame * info.frame_bytes)
        raw = f.read(info.frame_bytes)
    return _decode_frame(info, raw, frame)


def read_frames(path: str) -> npt.NDArray[np.float32]:
    """Positions (Å, float32) of every complete frame of ``path``, frames x atoms x 3."""
    info = read_info(path)
    out = np.empty((info.n_frames, info.n_atoms, 3), dtype=np.float32)
    with open(path, "rb") as f:
        f.seek(info.header_bytes)
        for k in range(info.n_frames):
            out[k] = _decode_frame(info, f.read(info.frame_bytes), k)
    return out
