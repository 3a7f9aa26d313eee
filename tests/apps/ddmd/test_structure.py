"""Contact maps, Kabsch RMSD and fraction of native contacts against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tandem_apps.ddmd import structure

LINE_5A = np.array([[0.0, 0, 0], [5, 0, 0], [10, 0, 0], [15, 0, 0]])


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "z":
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def test_contact_map_of_four_points_five_angstrom_apart() -> None:
    # Distances: neighbours 5 Å (< 8: contact), next-nearest 10 Å and 15 Å (no contact).
    expected = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]], dtype=np.uint8)
    cmap = structure.contact_map(LINE_5A, 8.0)
    assert cmap.dtype == np.uint8
    np.testing.assert_array_equal(cmap, expected)
    no_diag = structure.contact_map(LINE_5A, 8.0, include_diagonal=False)
    np.testing.assert_array_equal(no_diag, expected - np.eye(4, dtype=np.uint8))


def test_contact_threshold_is_strict_and_batched() -> None:
    # At threshold 5 the 5 Å neighbours are not in contact; at 10.5 next-nearest ones are.
    cmaps = structure.contact_map(np.stack([LINE_5A, LINE_5A * 2.0]), 5.0)
    assert cmaps.shape == (2, 4, 4)
    np.testing.assert_array_equal(cmaps[0], np.eye(4))
    np.testing.assert_array_equal(cmaps[1], np.eye(4))
    assert structure.contact_map(LINE_5A, 10.5)[0].tolist() == [1, 1, 1, 0]


def test_rmsd_of_rotated_and_translated_copy_is_zero() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(10, 3)) * 4.0
    moved = ref @ rotation("z", 73.0).T @ rotation("x", -131.0).T + np.array([5.0, -2.0, 11.0])
    assert structure.kabsch_rmsd(moved, ref) == pytest.approx(0.0, abs=1e-9)
    assert structure.kabsch_rmsd(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_rmsd_hand_computed_cases() -> None:
    # A 2 Å segment vs a 4 Å one on the same line (any orientation): deviations 1, 0, 1 Å.
    short = np.array([[-1.0, 0, 0], [0, 0, 0], [1, 0, 0]])
    long = np.array([[-2.0, 0, 0], [0, 0, 0], [2, 0, 0]])
    turned = long @ rotation("z", 90.0).T + 7.0
    assert structure.kabsch_rmsd(short, turned) == pytest.approx(math.sqrt(2.0 / 3.0))
    # A 2x2 square vs a 4x2 rectangle: each corner is 1 Å off in x, so RMSD is exactly 1.
    square = np.array([[1.0, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]])
    rectangle = square * np.array([2.0, 1.0, 1.0])
    assert structure.kabsch_rmsd(square, rectangle) == pytest.approx(1.0)


def test_rmsd_never_uses_a_mirror_image() -> None:
    tetra = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    mirror = tetra * np.array([1.0, 1.0, -1.0])
    assert structure.kabsch_rmsd(mirror, tetra) > 0.1


def test_rmsd_batched_matches_single() -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(6, 3))
    frames = ref + rng.normal(scale=0.5, size=(5, 6, 3))
    batched = structure.kabsch_rmsd(frames, ref)
    assert isinstance(batched, np.ndarray) and batched.shape == (5,)
    singles = [structure.kabsch_rmsd(f, ref) for f in frames]
    np.testing.assert_allclose(batched, singles, rtol=1e-12)


def test_fraction_of_native_contacts() -> None:
    # Five points 2 Å apart. With |i-j| >= 3 and d < 8 Å the native pairs are (0, 3) and
    # (1, 4), both at 6 Å; (0, 4) is 8 Å apart, not < 8.
    ref = np.array([[2.0 * i, 0, 0] for i in range(5)])
    native = structure.native_contacts(ref, 8.0)
    assert sorted(zip(*np.nonzero(native), strict=True)) == [(0, 3), (1, 4)]
    half = ref.copy()
    half[4] = [40.0, 0, 0]  # breaks (1, 4) only
    fnc = structure.fraction_native_contacts(np.stack([ref, half, ref * 2.0]), native, 8.0)
    np.testing.assert_allclose(fnc, [1.0, 0.5, 0.0])
    assert structure.fraction_native_contacts(ref, native) == 1.0


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="reference has 3"):
        structure.kabsch_rmsd(np.zeros((4, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(R, 3\)"):
        structure.contact_map(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no native contacts"):
        structure.fraction_native_contacts(LINE_5A, np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="threshold must be positive"):
        structure.contact_map(LINE_5A, 0.0)
