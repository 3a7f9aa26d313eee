"""Values passed between DeepDriveMD's stages (simulation, aggregation, training, agent).

Contract: every stage is a plain Python function that tandem runs as a task in a warm worker;
stages hand each other these frozen values and files in the run directory, never live objects.
Paths are absolute strings so a value can cross a process boundary (cloudpickle) unchanged.

Files:
- a simulation segment writes ``<dir>/segment.dcd`` (OpenMM DCD, positions in Å, one frame per
  report) and ``<dir>/segment.h5`` (h5py) with per-frame datasets ``contact_map``
  (uint8, frames × R × R, Cα–Cα distance < threshold), ``rmsd`` (float32, Å, Cα RMSD to the
  target after optimal superposition), ``fnc`` (float32, fraction of the target's native Cα
  contacts present), ``time_ps`` (float32) and attributes ``lineage``, ``segment``, ``dcd``,
  ``topology``;
- aggregation writes one HDF5 file with the same per-frame datasets concatenated plus
  ``source`` (int32, frames × 2: index into the ``files`` attribute, frame within that file);
- training writes a torch checkpoint (model state, optimiser state, config, epochs seen);
- the agent writes ``restarts.json``: a list of :class:`RestartPoint` as dicts, best first.

In memory (``data: memory``) only the DCD, ``restarts.json`` and ``embeddings.npz`` are
written, for the user; the stages hand each other :class:`SegmentFrames`, :class:`FrameSet`,
:class:`TrainState` and :class:`AgentResult` (with ``positions``) by reference instead (tandem
keeps them in shared memory and maps NumPy arrays in the next task without a copy).
Every result carries the :class:`~tandem_apps.ddmd.fsio.FileIO` its stage made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tandem_apps.ddmd.fsio import NO_IO, FileIO

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tandem_apps.ddmd.aggregate import Frames


@dataclass(frozen=True, slots=True)
class RestartPoint:
    """A frame to restart a simulation from: frame ``frame`` of ``dcd`` (topology ``topology``)."""

    dcd: str
    topology: str
    frame: int
    lineage: int
    segment: int
    rmsd: float
    lof: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RestartPoint:
        return RestartPoint(
            dcd=str(d["dcd"]), topology=str(d["topology"]), frame=int(d["frame"]),
            lineage=int(d["lineage"]), segment=int(d["segment"]), rmsd=float(d["rmsd"]),
            lof=float(d.get("lof", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What one simulation segment produced."""

    lineage: int
    segment: int
    dcd: str
    h5: str
    topology: str
    frames: int
    min_rmsd: float
    final_rmsd: float
    max_fnc: float
    ns_per_day: float
    platform: str
    threads: int
    started_from: str  # "initial" or "<dcd>#<frame>"
    io: FileIO = NO_IO


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What one training round produced."""

    checkpoint: str
    epochs: int
    losses: tuple[float, ...]
    frames: int
    device: str
    io: FileIO = NO_IO


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What one inference + outlier-detection round produced."""

    restarts_json: str
    embeddings: str  # .npz with 'z' (frames × latent), 'rmsd', 'source'
    restarts: tuple[RestartPoint, ...]
    frames: int
    io: FileIO = NO_IO
    # In memory: the restarts' coordinates (restarts x atoms x 3, float32 Å as in the DCD).
    positions: npt.NDArray[np.float32] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Aggregated:
    """What a file-based aggregation produced: the training set's HDF5 file."""

    path: str
    frames: int
    io: FileIO = NO_IO


@dataclass(frozen=True, slots=True, eq=False)
class SegmentFrames:
    """A segment's per-frame data in memory (``data: memory``): what ``segment.h5`` holds,
    and every frame's coordinates (frames x atoms x 3, float32 Å: the DCD's values)."""

    result: SegmentResult
    contact_map: npt.NDArray[np.uint8]
    rmsd: npt.NDArray[np.float32]
    fnc: npt.NDArray[np.float32]
    time_ps: npt.NDArray[np.float32]
    positions: npt.NDArray[np.float32]

    @property
    def io(self) -> FileIO:
        return self.result.io


@dataclass(frozen=True, slots=True, eq=False)
class FrameSet:
    """An aggregation in memory: the frames of many segments and their coordinates."""

    frames: Frames
    positions: npt.NDArray[np.float32]  # frames x atoms x 3, float32 Å
    io: FileIO = NO_IO


@dataclass(frozen=True, slots=True, eq=False)
class TrainState:
    """A training round in memory: its result and the checkpoint's payload (the dict that
    ``cvae.save_checkpoint`` writes, its tensors as NumPy arrays: ``cvae.to_arrays``),
    handed to the agent and the next round."""

    result: TrainResult
    payload: dict[str, Any]

    @property
    def io(self) -> FileIO:
        return self.result.io


@dataclass(frozen=True, slots=True, eq=False)
class StreamedFrame:
    """One frame a segment publishes to its round's stream (``data: stream``) as soon as it
    is written: its per-frame data, its coordinates, and where it comes from."""

    lineage: int
    segment: int
    frame: int           # index in its segment's DCD
    dcd: str
    topology: str
    contact_map: npt.NDArray[np.uint8]   # R x R
    rmsd: float
    fnc: float
    time_ps: float
    positions: npt.NDArray[np.float32]   # atoms x 3, float32 Å (the DCD's values)
