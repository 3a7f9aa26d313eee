"""The simulated molecule: a small peptide built offline from its sequence, and its force field.

Contract: builds heavy atoms from ideal internal coordinates (NeRF: Engh & Huber bond lengths and
angles, trans peptide bonds) for given backbone dihedrals, adds hydrogens with OpenMM's Modeller
(charged termini, pH 7) and writes PDB files. ``prepare`` writes two files once per work directory
and sequence and reuses them afterwards:

- ``<workdir>/<SEQUENCE>-extended.pdb``: the start structure, an extended chain (phi -135°,
  psi 135°), briefly energy-minimised;
- ``<workdir>/<SEQUENCE>-helix.pdb``: the target, an ideal right-handed alpha helix (phi -57°,
  psi -47°) of the same sequence, not minimised (so its geometry stays ideal).

Supported residues: A (Ala), G (Gly), Q (Gln). The force field is amber14 with OBC2 implicit
solvent (``ForceField('amber14-all.xml', 'implicit/obc2.xml')``); ``create_system`` is the one
place that turns a topology into an OpenMM System, so the minimisation here and the simulation
stage use the same physics. Imports numpy and OpenMM only.
"""

from __future__ import annotations

import fcntl
import functools
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openmm
from openmm import app, unit

DEFAULT_SEQUENCE = "A" * 15
EXTENDED = (-135.0, 135.0)  # (phi, psi) in degrees
HELIX = (-57.0, -47.0)
FORCEFIELD_FILES = ("amber14-all.xml", "implicit/obc2.xml")
HYDROGEN_MASS_AMU = 3.0
_GB_OFFSET_NM = 0.009  # OBC dielectric offset, in both implicit/obc2.xml and GBSAOBCForce

RESIDUE_NAMES = {"A": "ALA", "G": "GLY", "Q": "GLN"}

# Ideal geometry (Å, degrees).
_N_CA, _CA_C, _C_N, _C_O, _CA_CB = 1.458, 1.525, 1.329, 1.231, 1.530
_N_CA_C, _CA_C_N, _C_N_CA, _CA_C_O, _N_CA_CB, _CA_C_OXT = 111.2, 116.2, 121.7, 120.5, 110.5, 117.0
_CB_TORSION = -122.6  # dihedral C-N-CA-CB of an L-amino acid
_OMEGA = 180.0
_GLN_CHI = (-65.0, 180.0, 0.0)  # Gln chi1, chi2, chi3 (OE1; NE2 opposite)


def check_sequence(sequence: str) -> str:
    """Return ``sequence`` upper-cased, or raise ValueError naming the first unsupported letter."""
    if not isinstance(sequence, str) or len(sequence) < 2:
        raise ValueError(f"peptide sequence must have at least 2 residues, got {sequence!r}")
    upper = sequence.upper()
    for i, letter in enumerate(upper):
        if letter not in RESIDUE_NAMES:
            raise ValueError(
                f"unknown residue letter {letter!r} at position {i + 1} of sequence {sequence!r};"
                f" supported: {', '.join(sorted(RESIDUE_NAMES))}"
            )
    return upper


def place(a: np.ndarray, b: np.ndarray, c: np.ndarray,
          bond: float, angle_deg: float, torsion_deg: float) -> np.ndarray:
    """The point d with |cd| = bond, angle b-c-d = angle and dihedral a-b-c-d = torsion (NeRF)."""
    angle, torsion = np.radians(angle_deg), np.radians(torsion_deg)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    local = bond * np.array(
        [-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)]
    )
    d: np.ndarray = c + local[0] * bc + local[1] * m + local[2] * n
    return d


def dihedral(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> float:
    """IUPAC dihedral angle p0-p1-p2-p3 in degrees, in (-180, 180]."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1)
    v = b0 - np.dot(b0, b1) * b1
    w = b2 - np.dot(b2, b1) * b1
    return float(np.degrees(np.arctan2(np.dot(np.cross(b1, v), w), np.dot(v, w))))


def heavy_atoms(sequence: str, phi: float, psi: float) -> list[list[tuple[str, np.ndarray]]]:
    """Heavy atoms per residue as (name, position in Å), every residue at the same (phi, psi)."""
    seq = check_sequence(sequence)
    residues: list[list[tuple[str, np.ndarray]]] = []
    n = np.zeros(3)
    ca = np.array([_N_CA, 0.0, 0.0])
    c = place(np.array([0.0, 1.0, 0.0]), n, ca, _CA_C, _N_CA_C, 0.0)
    for i, letter in enumerate(seq):
        if i > 0:
            prev_n, prev_ca, prev_c = n, ca, c
            n = place(prev_n, prev_ca, prev_c, _C_N, _CA_C_N, psi)
            ca = place(prev_ca, prev_c, n, _N_CA, _C_N_CA, _OMEGA)
            c = place(prev_c, n, ca, _CA_C, _N_CA_C, phi)
        atoms = [("N", n), ("CA", ca), ("C", c), ("O", place(n, ca, c, _C_O, _CA_C_O, psi + 180.0))]
        if letter != "G":
            cb = place(c, n, ca, _CA_CB, _N_CA_CB, _CB_TORSION)
            atoms.append(("CB", cb))
        if letter == "Q":
            cg = place(n, ca, cb, 1.520, 114.1, _GLN_CHI[0])
            cd = place(ca, cb, cg, 1.516, 112.6, _GLN_CHI[1])
            atoms += [("CG", cg), ("CD", cd),
                      ("OE1", place(cb, cg, cd, 1.231, 120.8, _GLN_CHI[2])),
                      ("NE2", place(cb, cg, cd, 1.328, 116.4, _GLN_CHI[2] + 180.0))]
        if i == len(seq) - 1:
            atoms.append(("OXT", place(n, ca, c, _C_O, _CA_C_OXT, psi)))
        residues.append(atoms)
    return residues


def heavy_topology(sequence: str, phi: float, psi: float) -> tuple[app.Topology, unit.Quantity]:
    """An OpenMM Topology (one chain, standard bonds) and positions of the heavy atoms."""
    seq = check_sequence(sequence)
    topology = app.Topology()
    chain = topology.addChain("A")
    positions: list[openmm.Vec3] = []
    for i, (letter, atoms) in enumerate(zip(seq, heavy_atoms(seq, phi, psi), strict=True)):
        residue = topology.addResidue(RESIDUE_NAMES[letter], chain, id=str(i + 1))
        for name, xyz in atoms:
            topology.addAtom(name, app.Element.getBySymbol(name[0]), residue)
            positions.append(openmm.Vec3(*(float(v) / 10.0 for v in xyz)))
    topology.createStandardBonds()
    return topology, unit.Quantity(positions, unit.nanometer)


@functools.cache
def forcefield() -> app.ForceField:
    """amber14 + OBC2 implicit solvent (loaded once per process)."""
    return app.ForceField(*FORCEFIELD_FILES)


def create_system(topology: app.Topology, cutoff_nm: float | None = None, *,
                  native_gb: bool = True) -> openmm.System:
    """The simulated System: HBonds constraints, hydrogen mass 3 amu, no cutoff unless given.

    With no cutoff and ``native_gb`` (the default), the force field's OBC2 term, which OpenMM
    builds as a CustomGBForce, is replaced by its built-in GBSAOBCForce: the same model and
    per-atom parameters (forces agree to ~1e-6 relative; the tests check it) at about five
    times the speed on a CPU. With a cutoff the two differ slightly, so the custom force stays.
    """
    if cutoff_nm is None:
        method, cutoff = app.NoCutoff, 1.0 * unit.nanometer  # cutoff unused with NoCutoff
    elif cutoff_nm > 0:
        method, cutoff = app.CutoffNonPeriodic, cutoff_nm * unit.nanometer
    else:
        raise ValueError(f"cutoff_nm must be positive or None (no cutoff), got {cutoff_nm}")
    system = forcefield().createSystem(
        topology, nonbondedMethod=method, nonbondedCutoff=cutoff,
        constraints=app.HBonds, hydrogenMass=HYDROGEN_MASS_AMU * unit.amu,
    )
    if native_gb and cutoff_nm is None:
        _use_native_obc2(system)
    return system


def _use_native_obc2(system: openmm.System) -> None:
    custom = [(k, f) for k, f in enumerate(system.getForces())
              if isinstance(f, openmm.CustomGBForce)]
    if len(custom) != 1:
        raise ValueError(f"expected one CustomGBForce (OBC2) in the System, found {len(custom)}")
    index, force = custom[0]
    names = [force.getPerParticleParameterName(j)
             for j in range(force.getNumPerParticleParameters())]
    if names != ["charge", "or", "sr"]:
        raise ValueError(f"the CustomGBForce is not OBC2 (per-particle parameters {names})")
    native = openmm.GBSAOBCForce()
    native.setNonbondedMethod(openmm.GBSAOBCForce.NoCutoff)
    native.setSoluteDielectric(1.0)
    native.setSolventDielectric(78.5)
    native.setSurfaceAreaEnergy(28.3919551 / (4 * np.pi))  # the ACE term of implicit/obc2.xml
    for atom in range(force.getNumParticles()):
        charge, offset_radius, scaled_offset_radius = force.getParticleParameters(atom)
        # implicit/obc2.xml stores radius - 0.009 nm and scale * (radius - 0.009 nm).
        native.addParticle(charge, offset_radius + _GB_OFFSET_NM,
                           scaled_offset_radius / offset_radius)
    native.setForceGroup(force.getForceGroup())
    system.removeForce(index)
    system.addForce(native)


def cpu_threads() -> int:
    """Cores this process may run on (tandem pins a worker to the cores it was placed on)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def build(sequence: str, phi: float, psi: float,
          minimise_steps: int = 0) -> tuple[app.Topology, unit.Quantity]:
    """The full peptide with hydrogens; minimised on the CPU for up to ``minimise_steps``."""
    topology, positions = heavy_topology(sequence, phi, psi)
    modeller = app.Modeller(topology, positions)
    modeller.addHydrogens(forcefield(), pH=7.0)
    if minimise_steps <= 0:
        return modeller.topology, modeller.positions
    system = create_system(modeller.topology)
    platform = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform,
                             {"Threads": str(cpu_threads())})
    context.setPositions(modeller.positions)
    context.applyConstraints(1e-6)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, minimise_steps)
    minimised = context.getState(getPositions=True).getPositions()
    return modeller.topology, minimised


def pdb_text(topology: app.Topology, positions: unit.Quantity) -> str:
    """PDB text of a structure (OpenMM's writer)."""
    buffer = io.StringIO()
    app.PDBFile.writeFile(topology, positions, buffer, keepIds=True)
    return buffer.getvalue()


def _write_once(path: Path, make_text: Callable[[], str]) -> None:
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(make_text())
    os.replace(tmp, path)


def _structure_text(sequence: str, dihedrals: tuple[float, float], minimise_steps: int) -> str:
    return pdb_text(*build(sequence, *dihedrals, minimise_steps=minimise_steps))


def prepare(workdir: str, sequence: str = DEFAULT_SEQUENCE) -> tuple[str, str]:
    """Write (once) and return absolute paths of the initial and the target PDB for ``sequence``.

    Safe to call from several processes at once: a lock file in ``workdir`` serialises the
    writers, and each file appears whole (written aside, then renamed).
    """
    seq = check_sequence(sequence)
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    initial, target = root / f"{seq}-extended.pdb", root / f"{seq}-helix.pdb"
    if initial.exists() and target.exists():
        return str(initial), str(target)
    with open(root / f".{seq}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_once(initial, functools.partial(_structure_text, seq, EXTENDED, 500))
        _write_once(target, functools.partial(_structure_text, seq, HELIX, 0))
    return str(initial), str(target)
