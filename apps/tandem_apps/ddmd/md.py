"""The molecular-dynamics stage: one OpenMM simulation segment of the peptide.

Contract: plain functions that tandem runs as tasks in warm worker processes; imports numpy,
h5py, OpenMM and this package's peptide, structure, dcd and types modules, never tandem.

Physics: amber14 + OBC2 implicit solvent (``peptide.create_system``), HBonds constraints,
hydrogen mass 3 amu, LangevinMiddleIntegrator. A segment starts from the initial structure or
from a :class:`~tandem_apps.ddmd.types.RestartPoint` (that frame's exact DCD coordinates),
with velocities drawn at the temperature. Randomness comes from ``MDParams.seed`` mixed with
the lineage and segment, so a segment is reproducible and lineages differ.

Platform: CUDA when ``CUDA_VISIBLE_DEVICES`` is non-empty and OpenMM's CUDA platform loads,
else CPU with one thread per core in ``os.sched_getaffinity(0)`` (tandem pins the worker).

Outputs in ``out_dir`` (see types.py): ``segment.dcd`` and ``segment.h5`` (not in memory
mode: :func:`simulate_segment` returns the arrays instead), one h5 frame per DCD
frame, frame k taken after ``(k + 1) * report_steps`` steps (the start is not a frame; its
RMSD and fnc are the h5 attributes ``start_rmsd`` and ``start_fnc``). Both files are written
aside and renamed when complete, the h5 last, so a segment's h5 exists only when it finished.

Warm workers: the System (and topology, CA indices, parsed PDBs) is cached per topology file and
force options; every segment gets a new Integrator and Context, because OpenMM fixes an integrator's
random seed when its Context is created.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import numpy.typing as npt
import openmm
from openmm import app, unit

from tandem_apps.ddmd import dcd, peptide, structure
from tandem_apps.ddmd.types import RestartPoint, SegmentResult


class SimulationUnstable(RuntimeError):
    """The simulation produced non-finite coordinates (blew up)."""


def _integral(value: float, name: str) -> int:
    n = round(value)
    if n < 1 or abs(value - n) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"MDParams: {name} must be a positive whole number of steps, got {value}")
    return int(n)


@dataclass(frozen=True, slots=True, kw_only=True)
class MDParams:
    """Knobs of one segment. Lengths are whole numbers of ``dt_fs`` steps."""

    simulation_ps: float = 100.0
    report_interval_ps: float = 2.0
    dt_fs: float = 4.0
    temperature_k: float = 300.0
    friction_per_ps: float = 1.0
    threshold_angstrom: float = 8.0
    seed: int = 0
    cutoff_nm: float | None = None  # None: no cutoff; else CutoffNonPeriodic at this distance
    native_gb: bool = True  # OpenMM's built-in OBC2 kernel (see peptide.create_system)
    steps: int = field(init=False)
    report_steps: int = field(init=False)

    def __post_init__(self) -> None:
        for name in ("simulation_ps", "report_interval_ps", "dt_fs", "temperature_k",
                     "friction_per_ps", "threshold_angstrom"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"MDParams: {name} must be a positive number, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"MDParams: seed must be a non-negative int, got {self.seed!r}")
        if self.cutoff_nm is not None and not self.cutoff_nm > 0:
            raise ValueError(f"MDParams: cutoff_nm must be positive or None, got {self.cutoff_nm}")
        steps = _integral(self.simulation_ps * 1000.0 / self.dt_fs, "simulation_ps / dt")
        report = _integral(self.report_interval_ps * 1000.0 / self.dt_fs, "report_interval_ps / dt")
        if steps % report:
            raise ValueError(
                f"MDParams: simulation_ps={self.simulation_ps} is not a whole number of"
                f" report intervals ({self.report_interval_ps} ps)"
            )
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "report_steps", report)

    @property
    def frames(self) -> int:
        return self.steps // self.report_steps

    def segment_seed(self, lineage: int, segment: int) -> int:
        """The OpenMM random seed of one segment (never 0, which OpenMM reads as 'random')."""
        state = np.random.SeedSequence([self.seed, lineage, segment]).generate_state(1)[0]
        return int(state % 0x7FFFFFFE) + 1


# ---------------------------------------------------------------------------- cached inputs

@dataclass(frozen=True, slots=True)
class _Model:
    topology: app.Topology
    system: openmm.System
    ca: npt.NDArray[np.intp]


_MODELS: dict[tuple[str, int, int, float | None, bool], _Model] = {}
_PDBS: dict[tuple[str, int, int], app.PDBFile] = {}


def _file_key(path: str) -> tuple[str, int, int]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PDB file not found: {path}")
    st = os.stat(path)
    return os.path.realpath(path), st.st_mtime_ns, st.st_size


def _pdb(path: str) -> app.PDBFile:
    key = _file_key(path)
    if key not in _PDBS:
        _PDBS[key] = app.PDBFile(path)
    return _PDBS[key]


def _ca_indices(topology: app.Topology, path: str) -> npt.NDArray[np.intp]:
    ca = np.array([a.index for a in topology.atoms() if a.name == "CA"], dtype=np.intp)
    if ca.size < 4:
        raise ValueError(f"{path}: needs at least 4 atoms named CA, found {ca.size}")
    return ca


def _model(topology_pdb: str, cutoff_nm: float | None, native_gb: bool) -> _Model:
    key = (*_file_key(topology_pdb), cutoff_nm, native_gb)
    if key not in _MODELS:
        topology = _pdb(topology_pdb).topology
        system = peptide.create_system(topology, cutoff_nm, native_gb=native_gb)
        _MODELS[key] = _Model(topology, system, _ca_indices(topology, topology_pdb))
    return _MODELS[key]


def _target_ca(target_pdb: str) -> npt.NDArray[np.float64]:
    pdb = _pdb(target_pdb)
    positions = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom))
    return positions[_ca_indices(pdb.topology, target_pdb)]


# ---------------------------------------------------------------------------- start structures

def load_frame(dcd_path: str, topology_pdb: str, frame: int) -> npt.NDArray[np.float64]:
    """Positions (nm, atoms x 3) of frame ``frame`` (0-based) of ``dcd_path``.

    FileNotFoundError names a missing file; ValueError names a frame out of range or an atom
    count that differs between the DCD and its topology.
    """
    n_atoms = _pdb(topology_pdb).topology.getNumAtoms()
    info = dcd.read_info(dcd_path)
    if info.n_atoms != n_atoms:
        raise ValueError(
            f"{dcd_path} has {info.n_atoms} atoms per frame but its topology {topology_pdb}"
            f" has {n_atoms}"
        )
    return dcd.read_frame(dcd_path, frame).astype(np.float64) / 10.0


def initial_positions(start: RestartPoint | None, initial_pdb: str) -> npt.NDArray[np.float64]:
    """Where a segment starts (nm): the initial structure, or the restart point's frame."""
    if start is None:
        positions = _pdb(initial_pdb).getPositions(asNumpy=True)
        return np.asarray(positions.value_in_unit(unit.nanometer), dtype=np.float64)
    return load_frame(start.dcd, start.topology, start.frame)


# ---------------------------------------------------------------------------- platform

@dataclass(frozen=True, slots=True)
class PlatformChoice:
    """The OpenMM platform a segment runs on; ``threads`` is 0 on a GPU."""

    name: str
    properties: tuple[tuple[str, str], ...]
    threads: int


def choose_platform() -> PlatformChoice:
    """CUDA when a GPU was placed here and OpenMM's CUDA platform loads, else CPU on our cores."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        try:
            openmm.Platform.getPlatformByName("CUDA")
        except openmm.OpenMMException:
            warnings.warn("CUDA_VISIBLE_DEVICES is set but OpenMM has no CUDA platform;"
                          " running on the CPU", RuntimeWarning, stacklevel=2)
        else:
            return PlatformChoice("CUDA", (("Precision", "mixed"), ("DeviceIndex", "0")), 0)
    threads = peptide.cpu_threads()
    return PlatformChoice("CPU", (("Threads", str(threads)),), threads)


def _integrator(params: MDParams, seed: int) -> openmm.LangevinMiddleIntegrator:
    integrator = openmm.LangevinMiddleIntegrator(
        params.temperature_k * unit.kelvin, params.friction_per_ps / unit.picosecond,
        params.dt_fs * unit.femtosecond)
    integrator.setRandomNumberSeed(seed)
    return integrator


def _context(model: _Model, params: MDParams, seed: int, choice: PlatformChoice,
             ) -> tuple[openmm.Context, openmm.Integrator, PlatformChoice]:
    """A new Context (with its own integrator) on ``choice``, or on the CPU if a GPU fails."""
    integrator = _integrator(params, seed)
    platform = openmm.Platform.getPlatformByName(choice.name)
    try:
        context = openmm.Context(model.system, integrator, platform, dict(choice.properties))
    except openmm.OpenMMException as exc:
        if choice.name == "CPU":
            raise
        warnings.warn(f"OpenMM {choice.name} context failed ({exc}); running on the CPU",
                      RuntimeWarning, stacklevel=3)
        threads = peptide.cpu_threads()
        cpu = PlatformChoice("CPU", (("Threads", str(threads)),), threads)
        return _context(model, params, seed, cpu)
    return context, integrator, choice


# ---------------------------------------------------------------------------- the segment

@dataclass(frozen=True, slots=True, eq=False)
class SegmentArrays:
    """A segment's per-frame data: what ``segment.h5`` holds, and every frame's coordinates
    (float32 Å, the values the DCD holds)."""

    contact_map: npt.NDArray[np.uint8]
    rmsd: npt.NDArray[np.float32]
    fnc: npt.NDArray[np.float32]
    time_ps: npt.NDArray[np.float32]
    positions: npt.NDArray[np.float32]


def _per_frame(ca_frames: npt.NDArray[np.float32], positions: npt.NDArray[np.float32],
               target: npt.NDArray[np.float64], native: npt.NDArray[np.bool_],
               params: MDParams, first: int = 0) -> SegmentArrays:
    """The per-frame arrays of frames ``first, first + 1, ...`` (one frame at a time gives
    the same values as the whole segment at once: tests/apps/ddmd/test_stream.py)."""
    rmsd = np.asarray(structure.kabsch_rmsd(ca_frames, target), dtype=np.float32)
    fnc = np.asarray(structure.fraction_native_contacts(ca_frames, native,
                                                        params.threshold_angstrom), np.float32)
    cmaps = structure.contact_map(ca_frames, params.threshold_angstrom)
    frames = np.arange(first + 1, first + len(ca_frames) + 1)
    time_ps = (frames * params.report_interval_ps).astype(np.float32)
    return SegmentArrays(contact_map=cmaps, rmsd=rmsd, fnc=fnc, time_ps=time_ps,
                         positions=positions)


def _write_h5(path: Path, arrays: SegmentArrays, attrs: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with h5py.File(tmp, "w") as h5:
        h5.create_dataset("contact_map", data=arrays.contact_map, compression="gzip",
                          compression_opts=4)
        h5.create_dataset("rmsd", data=arrays.rmsd)
        h5.create_dataset("fnc", data=arrays.fnc)
        h5.create_dataset("time_ps", data=arrays.time_ps)
        for name, value in attrs.items():
            h5.attrs[name] = value
    os.replace(tmp, path)


def _run_frames(context: openmm.Context, integrator: openmm.Integrator, model: _Model,
                params: MDParams, dcd_path: Path, ca_frames: npt.NDArray[np.float32],
                all_frames: npt.NDArray[np.float32], label: str,
                after_frame: Callable[[int], None] | None = None) -> float:
    """Step frame by frame, writing each frame to the DCD, its CA (Å) to ``ca_frames`` and
    every atom (Å) to ``all_frames``, as the DCD stores them (float32 of 10 x nm), then
    calling ``after_frame(k)`` when given.

    Returns the seconds spent stepping (including the position download that ends each chunk:
    on a GPU, ``step`` returns before the work is done).
    """
    stepping_s = 0.0
    with open(dcd_path, "wb") as f:
        writer = app.DCDFile(f, model.topology, params.dt_fs * unit.femtosecond,
                             firstStep=params.report_steps, interval=params.report_steps)
        for k in range(params.frames):
            t0 = time.perf_counter()
            integrator.step(params.report_steps)
            state = context.getState(getPositions=True)
            stepping_s += time.perf_counter() - t0
            pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
            if not np.isfinite(pos).all():
                raise SimulationUnstable(f"{label}: non-finite positions by step"
                                         f" {(k + 1) * params.report_steps} (dt_fs={params.dt_fs})")
            writer.writeModel(pos)
            all_frames[k] = (10.0 * pos).astype(np.float32)  # as stored in the DCD
            ca_frames[k] = all_frames[k][model.ca]
            if after_frame is not None:
                after_frame(k)
    return stepping_s


def run_segment(params: MDParams, *, lineage: int, segment: int, start: RestartPoint | None,
                out_dir: str, initial_pdb: str, target_pdb: str) -> SegmentResult:
    """Run one segment and write ``out_dir/segment.dcd`` and ``out_dir/segment.h5``.

    ``initial_pdb`` is the start structure (and topology) when ``start`` is None; a restart
    uses ``start.topology``. ``target_pdb`` is the folded reference for RMSD and fnc.
    """
    result, _ = simulate_segment(params, lineage=lineage, segment=segment, start=start,
                                 out_dir=out_dir, initial_pdb=initial_pdb,
                                 target_pdb=target_pdb)
    return result


def simulate_segment(params: MDParams, *, lineage: int, segment: int,
                     start: RestartPoint | None, out_dir: str, initial_pdb: str,
                     target_pdb: str, start_positions: npt.NDArray[np.float32] | None = None,
                     write_h5: bool = True,
                     on_frame: Callable[[int, SegmentArrays], None] | None = None,
                     ) -> tuple[SegmentResult, SegmentArrays]:
    """Run one segment, write ``out_dir/segment.dcd`` (and ``segment.h5`` when ``write_h5``),
    and return its result with its per-frame arrays.

    ``on_frame(k, arrays)``, when given, receives frame ``k``'s arrays (one frame each) as
    soon as the frame is written: what the streaming mode publishes while the segment runs.

    ``start_positions`` (atoms x 3, float32 Å as in a DCD) are the restart point's
    coordinates when the caller has them in memory: the DCD is then not read. Without
    ``write_h5`` the result's ``h5`` is empty.
    """
    if not isinstance(params, MDParams):
        raise TypeError(f"params must be an MDParams, got {type(params).__name__}")
    if not os.path.isabs(out_dir):
        raise ValueError(f"out_dir must be an absolute path, got {out_dir!r}")
    topology_pdb = os.path.abspath(start.topology if start is not None else initial_pdb)
    model = _model(topology_pdb, params.cutoff_nm, params.native_gb)
    if start is not None and start_positions is not None:
        positions = np.asarray(start_positions).astype(np.float64) / 10.0  # as load_frame
    else:
        positions = initial_positions(start, initial_pdb)
    if positions.shape != (model.topology.getNumAtoms(), 3):
        raise ValueError(f"start positions have shape {positions.shape}, topology {topology_pdb}"
                         f" has {model.topology.getNumAtoms()} atoms")
    target = _target_ca(target_pdb)
    if len(target) != len(model.ca):
        raise ValueError(f"target {target_pdb} has {len(target)} CA atoms, topology"
                         f" {topology_pdb} has {len(model.ca)}")
    native = structure.native_contacts(target, params.threshold_angstrom)
    start_ca = positions[model.ca] * 10.0
    start_rmsd = float(structure.kabsch_rmsd(start_ca, target))
    start_fnc = float(structure.fraction_native_contacts(start_ca, native,
                                                         params.threshold_angstrom))

    seed = params.segment_seed(lineage, segment)
    context, integrator, choice = _context(model, params, seed, choose_platform())
    context.setPositions(positions * unit.nanometer)
    context.applyConstraints(1e-6)
    context.setVelocitiesToTemperature(params.temperature_k * unit.kelvin, seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dcd_path, h5_path = out / "segment.dcd", out / "segment.h5"
    dcd_tmp = out / ".segment.dcd.part"
    h5_path.unlink(missing_ok=True)  # a retry must not leave an old h5 beside a new DCD
    ca_frames = np.empty((params.frames, len(model.ca), 3), dtype=np.float32)
    all_frames = np.empty((params.frames, model.topology.getNumAtoms(), 3), dtype=np.float32)
    def publish(k: int) -> None:
        assert on_frame is not None
        on_frame(k, _per_frame(ca_frames[k:k + 1], all_frames[k:k + 1], target, native,
                               params, first=k))

    try:
        stepping_s = _run_frames(context, integrator, model, params, dcd_tmp, ca_frames,
                                 all_frames, f"lineage {lineage} segment {segment}",
                                 publish if on_frame is not None else None)
    except BaseException:
        dcd_tmp.unlink(missing_ok=True)
        raise
    finally:
        del context, integrator
    os.replace(dcd_tmp, dcd_path)

    started_from = "initial" if start is None else f"{start.dcd}#{start.frame}"
    ns_per_day = params.steps * params.dt_fs * 1e-6 / stepping_s * 86400.0
    arrays = _per_frame(ca_frames, all_frames, target, native, params)
    if write_h5:
        _write_h5(h5_path, arrays, {
            "lineage": lineage, "segment": segment, "dcd": str(dcd_path),
            "topology": topology_pdb, "target": os.path.abspath(target_pdb),
            "started_from": started_from, "start_rmsd": start_rmsd, "start_fnc": start_fnc,
            "seed": seed, "threshold_angstrom": params.threshold_angstrom,
            "dt_fs": params.dt_fs, "report_interval_ps": params.report_interval_ps,
            "temperature_k": params.temperature_k, "platform": choice.name,
            "threads": choice.threads, "ns_per_day": ns_per_day,
        })
    rmsd, fnc = arrays.rmsd, arrays.fnc
    result = SegmentResult(
        lineage=lineage, segment=segment, dcd=str(dcd_path),
        h5=str(h5_path) if write_h5 else "",
        topology=topology_pdb, frames=params.frames, min_rmsd=float(rmsd.min()),
        final_rmsd=float(rmsd[-1]), max_fnc=float(fnc.max()), ns_per_day=ns_per_day,
        platform=choice.name, threads=choice.threads, started_from=started_from,
    )
    return result, arrays
