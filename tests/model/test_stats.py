from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tandem.model.stats import quantile


def test_quantile_interpolates_linearly() -> None:
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == 4.8
    assert quantile([7.0], 0.3) == 7.0
    assert math.isnan(quantile([], 0.5))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1), st.floats(0, 1))
def test_quantile_lies_between_min_and_max(xs: list[float], q: float) -> None:
    assert min(xs) <= quantile(xs, q) <= max(xs)
    assert quantile(xs, 0) == min(xs) and quantile(xs, 1) == max(xs)
