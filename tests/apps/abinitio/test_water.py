"""The expensive function: descriptors invariant and invertible, PySCF energies that behave."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tandem_apps.abinitio import water


def test_the_descriptor_is_invariant_under_exchange_and_inverts_to_the_geometry() -> None:
    a = water.descriptor(0.95, 1.02, 1.8)
    b = water.descriptor(1.02, 0.95, 1.8)
    assert np.allclose(a, b)
    assert water.geometry(a) == pytest.approx((1.02, 0.95, 1.8))


def test_a_descriptor_that_is_no_geometry_is_refused_with_its_values() -> None:
    with pytest.raises(ValueError, match="not a geometry"):
        water.geometry([1.9, -0.1, 1.8])


def test_hartree_fock_energies_rise_away_from_the_minimum_and_are_relative() -> None:
    r, theta = 0.99, math.radians(100.0)     # near the STO-3G minimum
    e0 = water.hartree_fock(r, r, theta, basis="sto-3g")
    assert -75.1 < e0 < -74.9                 # water's HF/STO-3G energy, hartree
    assert water.hartree_fock(r + 0.15, r, theta, basis="sto-3g") > e0
    assert water.hartree_fock(r, r, theta + 0.4, basis="sto-3g") > e0
    x = water.descriptor(r, r, theta)
    assert water.energy(x, basis="sto-3g", reference=e0) == pytest.approx(0.0, abs=1e-6)
    swapped = water.energy(water.descriptor(r + 0.05, r, theta), "sto-3g", e0)
    assert swapped == pytest.approx(water.energy(water.descriptor(r, r + 0.05, theta),
                                                 "sto-3g", e0), abs=1e-6)


def test_the_energy_is_pyscfs_known_value_for_its_water_example() -> None:
    """PySCF's own water example (O at the origin, H at (0, ±0.757, 0.587) Å, cc-pVDZ)
    converges to -76.0267656731 hartree; the same molecule in internal coordinates."""
    r = math.hypot(0.757, 0.587)
    theta = 2 * math.atan2(0.757, 0.587)
    assert water.hartree_fock(r, r, theta, basis="ccpvdz") == pytest.approx(
        -76.0267656731, abs=1e-8)
