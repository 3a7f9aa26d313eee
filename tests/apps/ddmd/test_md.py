"""The simulation stage: real OpenMM segments, their files, restarts, the DCD reader, bad inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("h5py")

import h5py
import openmm
from openmm import app, unit

from tandem_apps.ddmd import dcd, md, peptide, structure
from tandem_apps.ddmd.types import RestartPoint, SegmentResult

# 200 steps of 4 fs, a frame every 50 steps: 4 frames, well under a second on one core.
SHORT = md.MDParams(simulation_ps=0.8, report_interval_ps=0.2, seed=11)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return peptide.prepare(str(tmp_path_factory.mktemp("system")), "A" * 15)


@pytest.fixture(scope="module")
def first(system: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> SegmentResult:
    initial, target = system
    out = tmp_path_factory.mktemp("lineage0") / "segment0"
    return md.run_segment(SHORT, lineage=0, segment=0, start=None, out_dir=str(out),
                          initial_pdb=initial, target_pdb=target)


def target_ca(target: str) -> np.ndarray:
    pdb = app.PDBFile(target)
    ca = [a.index for a in pdb.topology.atoms() if a.name == "CA"]
    return np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom))[ca]


def test_params_derive_steps_and_reject_bad_values() -> None:
    assert (SHORT.steps, SHORT.report_steps, SHORT.frames) == (200, 50, 4)
    assert md.MDParams().steps == 25_000
    with pytest.raises(ValueError, match="whole number of steps"):
        md.MDParams(simulation_ps=1.0, report_interval_ps=0.201)
    with pytest.raises(ValueError, match="whole number of report intervals"):
        md.MDParams(simulation_ps=1.0, report_interval_ps=0.4)
    with pytest.raises(ValueError, match="temperature_k must be a positive number"):
        md.MDParams(temperature_k=-1.0)
    with pytest.raises(ValueError, match="seed"):
        md.MDParams(seed=-3)


def test_segment_seed_is_reproducible_nonzero_and_differs_per_lineage() -> None:
    seeds = {SHORT.segment_seed(lineage, segment) for lineage in range(5) for segment in range(5)}
    assert len(seeds) == 25 and 0 not in seeds
    assert SHORT.segment_seed(2, 3) == md.MDParams(
        simulation_ps=0.8, report_interval_ps=0.2, seed=11).segment_seed(2, 3)


def test_segment_writes_matching_dcd_and_h5(first: SegmentResult, system: tuple[str, str]) -> None:
    initial, target = system
    assert first.frames == 4 and first.started_from == "initial"
    assert first.topology == initial and first.platform in ("CPU", "CUDA")
    assert first.dcd == str(Path(first.h5).with_name("segment.dcd"))
    assert sorted(os.listdir(Path(first.dcd).parent)) == ["segment.dcd", "segment.h5"]
    info = dcd.read_info(first.dcd)
    assert (info.n_frames, info.n_atoms, info.first_step, info.interval) == (4, 153, 50, 50)
    with h5py.File(first.h5, "r") as h5:
        cmaps, rmsd, fnc = h5["contact_map"][:], h5["rmsd"][:], h5["fnc"][:]
        np.testing.assert_allclose(h5["time_ps"][:], [0.2, 0.4, 0.6, 0.8], rtol=1e-6)
        assert (h5.attrs["lineage"], h5.attrs["segment"]) == (0, 0)
        assert (h5.attrs["dcd"], h5.attrs["topology"]) == (first.dcd, initial)
        start_rmsd = float(h5.attrs["start_rmsd"])
    assert cmaps.dtype == np.uint8 and cmaps.shape == (4, 15, 15)
    assert rmsd.dtype == np.float32 and fnc.dtype == np.float32
    # Extended chain vs ideal helix: about 9 Å apart, and 0.8 ps cannot fold it.
    assert 6.0 < start_rmsd < 12.0 and np.all((rmsd > 6.0) & (rmsd < 12.0))
    assert first.min_rmsd == pytest.approx(float(rmsd.min()))
    assert first.final_rmsd == pytest.approx(float(rmsd[-1]))
    assert first.ns_per_day > 0
    # Every DCD frame is the h5 frame with the same index.
    ref = target_ca(target)
    frames = dcd.read_frames(first.dcd)
    ca = [a.index for a in app.PDBFile(initial).topology.atoms() if a.name == "CA"]
    for k in range(4):
        assert structure.kabsch_rmsd(frames[k, ca], ref) == pytest.approx(rmsd[k], rel=1e-5)
        np.testing.assert_array_equal(structure.contact_map(frames[k, ca]), cmaps[k])


def test_restart_starts_exactly_at_the_chosen_frame(
        first: SegmentResult, system: tuple[str, str], tmp_path: Path) -> None:
    initial, target = system
    with h5py.File(first.h5, "r") as h5:
        prev_rmsd = h5["rmsd"][:]
    point = RestartPoint(dcd=first.dcd, topology=first.topology, frame=2, lineage=0, segment=0,
                         rmsd=float(prev_rmsd[2]))
    start = md.initial_positions(point, initial)
    frame2 = dcd.read_frames(first.dcd)[2].astype(np.float64) / 10.0
    np.testing.assert_array_equal(start, frame2)
    assert not np.array_equal(start, md.initial_positions(None, initial))

    result = md.run_segment(SHORT, lineage=0, segment=1, start=point,
                            out_dir=str(tmp_path / "segment1"), initial_pdb=initial,
                            target_pdb=target)
    assert result.started_from == f"{first.dcd}#2"
    assert result.topology == first.topology
    with h5py.File(result.h5, "r") as h5:
        assert float(h5.attrs["start_rmsd"]) == pytest.approx(float(prev_rmsd[2]), rel=1e-5)
        assert h5.attrs["started_from"] == f"{first.dcd}#2"


def test_load_frame_names_bad_frames_and_files(first: SegmentResult, tmp_path: Path) -> None:
    positions = md.load_frame(first.dcd, first.topology, 3)
    assert positions.shape == (153, 3) and positions.dtype == np.float64
    with pytest.raises(ValueError, match=rf"frame 4 out of range for {first.dcd}: it holds 4"):
        md.load_frame(first.dcd, first.topology, 4)
    with pytest.raises(ValueError, match="frame -1 out of range"):
        md.load_frame(first.dcd, first.topology, -1)
    missing = str(tmp_path / "nowhere.dcd")
    with pytest.raises(FileNotFoundError, match=missing):
        md.load_frame(missing, first.topology, 0)
    with pytest.raises(FileNotFoundError, match="nowhere.pdb"):
        md.load_frame(first.dcd, str(tmp_path / "nowhere.pdb"), 0)
    heavy = tmp_path / "heavy.pdb"  # same peptide without hydrogens: 76 atoms
    heavy.write_text(peptide.pdb_text(*peptide.heavy_topology("A" * 15, *peptide.EXTENDED)))
    with pytest.raises(ValueError, match=r"153 atoms per frame but its topology .*heavy.pdb"):
        md.load_frame(first.dcd, str(heavy), 0)


def test_run_segment_rejects_relative_out_dir(system: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="absolute"):
        md.run_segment(SHORT, lineage=0, segment=0, start=None, out_dir="relative/dir",
                       initial_pdb=system[0], target_pdb=system[1])


def test_dcd_reader_reads_what_openmm_writes(tmp_path: Path) -> None:
    topology = app.Topology()
    residue = topology.addResidue("UNK", topology.addChain())
    for name in ("C1", "C2", "C3"):
        topology.addAtom(name, app.Element.getBySymbol("C"), residue)
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(5, 3, 3))  # nm
    for periodic in (False, True):
        if periodic:
            topology.setUnitCellDimensions(openmm.Vec3(3.0, 3.0, 3.0) * unit.nanometer)
        path = tmp_path / f"t{periodic}.dcd"
        with open(path, "wb") as f:
            writer = app.DCDFile(f, topology, 0.004 * unit.picosecond, firstStep=7, interval=7)
            for pos in frames:
                writer.writeModel(pos * unit.nanometer)
        info = dcd.read_info(str(path))
        assert (info.n_frames, info.n_atoms, info.has_unit_cell) == (5, 3, periodic)
        expected = (10.0 * frames).astype(np.float32)
        np.testing.assert_array_equal(dcd.read_frames(str(path)), expected)
        np.testing.assert_array_equal(dcd.read_frame(str(path), 3), expected[3])
        # A writer killed mid-frame: the partial frame is not counted.
        with open(path, "ab") as f:
            f.write(b"\0" * 20)
        assert dcd.read_info(str(path)).n_frames == 5
    not_dcd = tmp_path / "x.dcd"
    not_dcd.write_bytes(b"\x54\x00\x00\x00HELLO" + b"\0" * 100)
    with pytest.raises(ValueError, match="x.dcd"):
        dcd.read_info(str(not_dcd))


def test_platform_is_cpu_on_our_cores_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    choice = md.choose_platform()
    assert choice.name == "CPU" and choice.threads == len(os.sched_getaffinity(0))
    assert dict(choice.properties) == {"Threads": str(choice.threads)}
    names = {openmm.Platform.getPlatform(i).getName()
             for i in range(openmm.Platform.getNumPlatforms())}
    if "CUDA" not in names:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
        with pytest.warns(RuntimeWarning, match="no CUDA platform"):
            assert md.choose_platform().name == "CPU"
