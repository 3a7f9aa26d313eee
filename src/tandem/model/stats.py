"""Order statistics of a sample: the one quantile rule of tandem (reports, predictions, bench).

Contract: pure functions over sequences of numbers; no I/O.
Imports: nothing from tandem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``xs``, interpolating linearly between order statistics
    (NumPy's default, ``method="linear"``); NaN for an empty sample."""
    s = sorted(xs)
    if not s:
        return math.nan
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
