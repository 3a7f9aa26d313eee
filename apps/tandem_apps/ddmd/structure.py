"""Structure analysis of CA coordinates: contact maps, superposed RMSD, fraction of native contacts.

Contract: pure numpy functions, no I/O. Coordinates are arrays of shape ``(R, 3)`` (one
structure) or ``(F, R, 3)`` (F frames); every function accepts both and returns per-frame
results with the same leading shape (a scalar or ``(F,)``; ``(R, R)`` or ``(F, R, R)``). Units
are whatever the coordinates are in (the simulation stage passes Å); thresholds use that unit.

Definitions (as in DeepDriveMD):

- contact map: ``d_ij < threshold``; the diagonal (``d_ii = 0``) counts as a contact unless
  ``include_diagonal=False``;
- RMSD: root-mean-square deviation after optimal rigid superposition (Kabsch; rotations only,
  never reflections);
- native contacts: the pairs ``i < j`` with ``j - i >= min_separation`` (default 3) in contact
  in the reference; the fraction of them in contact in a frame is ``fnc``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
BoolArray = npt.NDArray[np.bool_]


def _coords(coords: npt.ArrayLike, name: str = "coords") -> FloatArray:
    arr = np.asarray(coords, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (R, 3) or (F, R, 3), got {arr.shape}")
    if arr.shape[-2] == 0:
        raise ValueError(f"{name} holds no atoms (shape {arr.shape})")
    return arr


def distances(coords: npt.ArrayLike) -> FloatArray:
    """All pairwise distances, shape ``(..., R, R)``."""
    arr = _coords(coords)
    diff = arr[..., :, None, :] - arr[..., None, :, :]
    out: FloatArray = np.sqrt(np.einsum("...ijk,...ijk->...ij", diff, diff))
    return out


def contact_map(coords: npt.ArrayLike, threshold: float = 8.0, *,
                include_diagonal: bool = True) -> npt.NDArray[np.uint8]:
    """uint8 contact map(s): 1 where the distance is below ``threshold``."""
    if threshold <= 0:
        raise ValueError(f"contact threshold must be positive, got {threshold}")
    cmap = (distances(coords) < threshold).astype(np.uint8)
    if not include_diagonal:
        r = cmap.shape[-1]
        cmap[..., np.arange(r), np.arange(r)] = 0
    return cmap


def kabsch_rmsd(coords: npt.ArrayLike, reference: npt.ArrayLike) -> FloatArray | float:
    """RMSD of each structure to ``reference`` after optimal superposition (Kabsch)."""
    ref = _coords(reference, "reference")
    if ref.ndim != 2:
        raise ValueError(f"reference must have shape (R, 3), got {ref.shape}")
    arr = _coords(coords)
    single = arr.ndim == 2
    frames = arr[None] if single else arr
    if frames.shape[1] != ref.shape[0]:
        raise ValueError(
            f"coords have {frames.shape[1]} atoms per structure, reference has {ref.shape[0]}"
        )
    x = frames - frames.mean(axis=1, keepdims=True)
    y = ref - ref.mean(axis=0)
    h = np.einsum("fri,rj->fij", x, y)  # covariance, per frame
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("fij,fjk->fik", u, vt)))
    d[d == 0] = 1.0
    vt[:, 2, :] *= d[:, None]  # flip the smallest axis where needed: a rotation, not a mirror
    rotation = np.einsum("fij,fjk->fik", u, vt)  # x @ rotation best matches y
    diff = np.einsum("fri,fij->frj", x, rotation) - y
    rmsd = np.sqrt(np.einsum("frj,frj->f", diff, diff) / ref.shape[0])
    return float(rmsd[0]) if single else rmsd


def native_contacts(reference: npt.ArrayLike, threshold: float = 8.0,
                    min_separation: int = 3) -> BoolArray:
    """Mask ``(R, R)`` of native pairs: ``i < j``, ``j - i >= min_separation``, in contact."""
    ref = _coords(reference, "reference")
    if ref.ndim != 2:
        raise ValueError(f"reference must have shape (R, 3), got {ref.shape}")
    if min_separation < 1:
        raise ValueError(f"min_separation must be at least 1, got {min_separation}")
    r = ref.shape[0]
    i, j = np.indices((r, r))
    mask: BoolArray = (contact_map(ref, threshold) == 1) & (j - i >= min_separation)
    return mask


def fraction_native_contacts(coords: npt.ArrayLike, native: npt.ArrayLike,
                             threshold: float = 8.0) -> FloatArray | float:
    """Fraction of the ``native`` pairs (a mask from :func:`native_contacts`) in contact."""
    mask = np.asarray(native, dtype=bool)
    total = int(mask.sum())
    if total == 0:
        raise ValueError("the native contact mask is empty: the reference has no native contacts")
    cmap = contact_map(coords, threshold)
    if cmap.shape[-2:] != mask.shape:
        raise ValueError(f"contact maps are {cmap.shape[-2:]}, native mask is {mask.shape}")
    present = (cmap.astype(bool) & mask).sum(axis=(-2, -1)) / total
    return float(present) if np.ndim(present) == 0 else present.astype(np.float64)
