"""The peptide builder: geometry, chirality, hydrogens, the helix target, idempotent prepare."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openmm")

import openmm
from openmm import app, unit

from tandem_apps.ddmd import peptide, structure


def atoms_by_residue(pdb_path: str) -> tuple[list[dict[str, np.ndarray]], int]:
    pdb = app.PDBFile(pdb_path)
    pos = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom))
    residues = [{a.name: pos[a.index] for a in r.atoms()} for r in pdb.topology.residues()]
    return residues, pdb.topology.getNumAtoms()


@pytest.fixture(scope="module")
def ala15(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return peptide.prepare(str(tmp_path_factory.mktemp("system")), "A" * 15)


def test_unknown_residue_letter_is_named() -> None:
    with pytest.raises(ValueError, match=r"'X' at position 3 of sequence 'AAXA'.*A, G, Q"):
        peptide.check_sequence("AAXA")
    with pytest.raises(ValueError, match="at least 2 residues"):
        peptide.check_sequence("A")


def test_prepare_rejects_bad_sequence_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'W'"):
        peptide.prepare(str(tmp_path / "sys"), "AAW")
    assert not (tmp_path / "sys").exists()


@pytest.mark.parametrize("dihedrals", [peptide.EXTENDED, peptide.HELIX])
def test_backbone_has_ideal_geometry_and_the_requested_dihedrals(
        dihedrals: tuple[float, float]) -> None:
    phi, psi = dihedrals
    res = [dict(r) for r in peptide.heavy_atoms("AGQAA", phi, psi)]
    for i, r in enumerate(res):
        assert np.linalg.norm(r["CA"] - r["N"]) == pytest.approx(1.458)
        assert np.linalg.norm(r["C"] - r["CA"]) == pytest.approx(1.525)
        assert np.linalg.norm(r["O"] - r["C"]) == pytest.approx(1.231)
        if i > 0:
            prev = res[i - 1]
            assert np.linalg.norm(r["N"] - prev["C"]) == pytest.approx(1.329)
            assert peptide.dihedral(prev["C"], r["N"], r["CA"], r["C"]) == pytest.approx(phi)
            assert abs(peptide.dihedral(prev["CA"], prev["C"], r["N"], r["CA"])) == \
                pytest.approx(180.0)
        if i < len(res) - 1:
            nxt = res[i + 1]
            assert peptide.dihedral(r["N"], r["CA"], r["C"], nxt["N"]) == pytest.approx(psi)
    assert "CB" not in res[1] and {"CG", "CD", "OE1", "NE2"} <= set(res[2])
    assert "OXT" in res[-1] and all("OXT" not in r for r in res[:-1])


def test_residues_are_l_amino_acids() -> None:
    # (N-CA)·((C-CA)x(CB-CA)) is about +2.5 Å³ for L residues (measured on villin, test.pdb).
    for r in map(dict, peptide.heavy_atoms("AQA", *peptide.HELIX)):
        ca = r["CA"]
        volume = np.dot(r["N"] - ca, np.cross(r["C"] - ca, r["CB"] - ca))
        assert 2.3 < volume < 2.7


def test_prepare_writes_ala15_with_hydrogens(ala15: tuple[str, str]) -> None:
    for path in ala15:
        residues, n_atoms = atoms_by_residue(path)
        assert len(residues) == 15
        # 10 atoms per Ala (N H CA HA CB 3xHB C O), + 2 more H on the charged N terminus, + OXT.
        assert n_atoms == 153
        assert {"H", "H2", "H3"} <= set(residues[0])  # NH3+ (OpenMM writes H1 as H)
        assert "OXT" in residues[-1]


def test_target_is_an_alpha_helix(ala15: tuple[str, str]) -> None:
    residues, _ = atoms_by_residue(ala15[1])
    o_n = [np.linalg.norm(residues[i]["O"] - residues[i + 4]["N"]) for i in range(11)]
    # Ideal geometry with phi -57°, psi -47° gives 3.09 Å for every i -> i+4 hydrogen bond.
    assert all(2.8 < d < 3.2 for d in o_n), o_n
    ca = np.array([r["CA"] for r in residues])
    rise = np.linalg.norm(ca[4:] - ca[:-4], axis=1) / 4  # 4 residues ≈ 1.1 turns ≈ 6.2 Å
    assert np.allclose(rise, 1.55, atol=0.1)


def test_initial_structure_is_extended_and_minimised_sanely(ala15: tuple[str, str]) -> None:
    initial, target = ala15
    residues, _ = atoms_by_residue(initial)
    ca = np.array([r["CA"] for r in residues])
    built = np.array([dict(r)["CA"] for r in peptide.heavy_atoms("A" * 15, *peptide.EXTENDED)])
    assert structure.kabsch_rmsd(ca, built) < 1.0  # minimisation kept the extended chain
    assert np.linalg.norm(ca[-1] - ca[0]) > 40.0  # ~3.3 Å per residue
    helix = np.array([r["CA"] for r in atoms_by_residue(target)[0]])
    assert structure.kabsch_rmsd(ca, helix) > 5.0
    pdb = app.PDBFile(initial)
    system = peptide.create_system(pdb.topology)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(pdb.positions)
    energy = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(
        unit.kilojoule_per_mole)
    assert np.isfinite(energy) and energy < 0


def test_prepare_is_idempotent(ala15: tuple[str, str]) -> None:
    before = [os.stat(p).st_mtime_ns for p in ala15]
    again = peptide.prepare(str(Path(ala15[0]).parent), "a" * 15)
    assert again == ala15
    assert [os.stat(p).st_mtime_ns for p in ala15] == before


def test_aaqaa3_has_174_atoms(tmp_path: Path) -> None:
    initial, target = peptide.prepare(str(tmp_path), "AAQAA" * 3)
    for path in (initial, target):
        residues, n_atoms = atoms_by_residue(path)
        # 12 Ala x 10 + 3 Gln x 17 + 2 N-terminal H + OXT
        assert n_atoms == 174
        assert [len(r) for r in residues[:3]] == [12, 10, 17]


@pytest.mark.parametrize("which", [0, 1])
def test_native_obc2_matches_the_force_field_custom_gb(ala15: tuple[str, str], which: int) -> None:
    pdb = app.PDBFile(ala15[which])
    results = []
    for native in (False, True):
        system = peptide.create_system(pdb.topology, native_gb=native)
        kinds = {type(f).__name__ for f in system.getForces()}
        assert ("GBSAOBCForce" in kinds) is native and ("CustomGBForce" in kinds) is not native
        context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                                 openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(pdb.positions)
        state = context.getState(getEnergy=True, getForces=True)
        results.append((state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                        np.asarray(state.getForces(asNumpy=True)._value)))
    (e_custom, f_custom), (e_native, f_native) = results
    assert e_native == pytest.approx(e_custom, abs=1e-3)
    assert np.linalg.norm(f_native - f_custom) / np.linalg.norm(f_custom) < 1e-5
