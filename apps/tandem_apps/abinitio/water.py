"""The expensive function: the Hartree–Fock energy of one water molecule, from PySCF.

Contract: a geometry is its internal coordinates ``(r1, r2, theta)`` (the two O–H bond
lengths in Å, the H–O–H angle in radians). :func:`descriptor` maps it to the inputs the
surrogate learns on, ``(r1 + r2, (r1 - r2)², theta)``: invariant under rotation, translation
and the exchange of the two hydrogens, and invertible up to that exchange
(:func:`geometry`). :func:`energy` is the function tandem runs as a task: the restricted
Hartree–Fock energy (PySCF, ``basis``) of the descriptor's geometry, in millihartree relative to
``reference`` hartree, on as many threads as the task has cores. Nothing here knows tandem.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

BASIS = "6-31g*"
"""The default basis set."""
EQUILIBRIUM = (0.947, 0.947, math.radians(105.5))
"""Near the HF/6-31G* minimum of water: r in Å, angle in radians (a chain's start)."""
HARTREE_MILLI = 1000.0


def descriptor(r1: float, r2: float, theta: float) -> np.ndarray:
    """The surrogate's inputs of a geometry (see the module docstring)."""
    return np.array([r1 + r2, (r1 - r2) ** 2, theta])


def geometry(x: Any) -> tuple[float, float, float]:
    """The geometry ``(r1, r2, theta)`` of descriptor ``x`` (``r1 >= r2``)."""
    s, d2, theta = (float(v) for v in np.asarray(x, dtype=float).ravel())
    if not (s > 0 and d2 >= 0 and 0 < theta < math.pi):
        raise ValueError(f"water: not a geometry's descriptor: {list(np.ravel(x))}")
    half = math.sqrt(d2) / 2
    return s / 2 + half, s / 2 - half, theta


def atoms(r1: float, r2: float, theta: float) -> list[tuple[str, tuple[float, float, float]]]:
    """Cartesian coordinates (Å): O at the origin, H1 on x, H2 in the xy plane."""
    return [("O", (0.0, 0.0, 0.0)), ("H", (r1, 0.0, 0.0)),
            ("H", (r2 * math.cos(theta), r2 * math.sin(theta), 0.0))]


def hartree_fock(r1: float, r2: float, theta: float, basis: str = BASIS) -> float:
    """The RHF energy (hartree) of a geometry; raises when the SCF does not converge."""
    from pyscf import gto, lib, scf

    lib.num_threads(max(1, len(os.sched_getaffinity(0))))
    mol = gto.M(atom=atoms(r1, r2, theta), basis=basis, unit="Angstrom", verbose=0)
    mf = scf.RHF(mol)
    mf.verbose = 0
    e = float(mf.kernel())
    if not mf.converged:
        raise RuntimeError(f"water: the SCF did not converge at r1={r1:.4f} Å, r2={r2:.4f} Å, "
                           f"theta={math.degrees(theta):.2f}°")
    return e


def energy(x: Any, basis: str = BASIS, reference: float = 0.0) -> float:
    """The energy of descriptor ``x`` in millihartree above ``reference`` hartree."""
    return (hartree_fock(*geometry(x), basis=basis) - reference) * HARTREE_MILLI


def warm_up(basis: str = BASIS) -> str:
    """Import PySCF in a worker and run one SCF of water in ``basis`` (its libraries and the
    basis loaded), before the clock starts."""
    import pyscf

    hartree_fock(*EQUILIBRIUM, basis=basis)
    return str(pyscf.__version__)
