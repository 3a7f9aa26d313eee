"""The error bound, the PI rule and the default trust policy, without a session."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tandem.errors import SpecError
from tandem.surrogate import BoundPolicy, ErrorBound, Gains
from tandem.surrogate.controller import start, step


def test_the_threshold_rises_below_the_setpoint_and_falls_above_it() -> None:
    bound, gains = ErrorBound(value=0.1), Gains()
    s0 = start(bound, gains)
    assert s0.threshold == 0.1                       # tau_0 is the bound
    low = step(bound, gains, s0, 0.0)                # no error: room to trust more
    assert low.threshold > s0.threshold and low.signal == 1.0
    high = step(bound, gains, s0, 1.0)               # 10x the bound: trust less
    assert high.threshold < s0.threshold and high.signal == -1.0
    at = step(bound, gains, s0, bound.target)        # on the setpoint: no change
    assert at.threshold == pytest.approx(s0.threshold)


def test_the_rule_is_the_documented_one() -> None:
    bound, gains = ErrorBound(value=0.2, setpoint=0.5), Gains(kp=0.5, ki=0.2, window=2)
    s = start(bound, gains)
    s = step(bound, gains, s, 0.05)      # window mean 0.05, target 0.1: e = 0.5, I = 0.5
    assert s.threshold == pytest.approx(0.2 * math.exp(0.5 * 0.5 + 0.2 * 0.5))
    s = step(bound, gains, s, 0.25)      # window mean 0.15: e = -0.5, I = 0
    assert s.threshold == pytest.approx(0.2 * math.exp(0.5 * -0.5))
    s = step(bound, gains, s, 0.25)      # window (0.25, 0.25): e = -1, I = -1
    assert s.window == (0.25, 0.25)
    assert s.threshold == pytest.approx(0.2 * math.exp(-0.5 - 0.2))
    assert s.audits == 3 and s.mean_error == pytest.approx(0.55 / 3)


def test_the_integral_is_clipped() -> None:
    bound, gains = ErrorBound(value=1.0), Gains(integral_limit=3.0, window=1)
    s = start(bound, gains)
    for _ in range(50):
        s = step(bound, gains, s, 100.0)
    assert s.integral == -3.0
    s = step(bound, gains, s, 0.0)       # one good audit moves it at once (no wind-up)
    assert s.integral > -3.0


@pytest.mark.parametrize("bad", [0, -0.1, math.nan, math.inf, "0.1", True, None])
def test_a_bound_that_is_not_positive_is_refused(bad: object) -> None:
    with pytest.raises(SpecError, match="bound must be a finite number > 0"):
        ErrorBound(value=bad)  # type: ignore[arg-type]


def test_bad_settings_are_named() -> None:
    with pytest.raises(SpecError, match="setpoint"):
        ErrorBound(value=1.0, setpoint=1.5)
    with pytest.raises(SpecError, match="window"):
        Gains(window=0)
    with pytest.raises(SpecError, match="audit_fraction"):
        BoundPolicy(ErrorBound(value=1.0), audit_fraction=0)
    with pytest.raises(SpecError, match="audited error"):
        step(ErrorBound(value=1.0), Gains(), start(ErrorBound(value=1.0), Gains()), -1.0)


def test_the_policy_measures_absolute_and_relative_errors() -> None:
    absolute = BoundPolicy(ErrorBound(value=0.1))
    assert absolute.error(np.array([1.0, 2.0]), np.array([1.5, 2.5])) == pytest.approx(0.5)
    assert absolute.uncertainty(np.array([1.0, 2.0]), np.array([0.1, 0.3])) == pytest.approx(0.2)
    relative = BoundPolicy(ErrorBound(value=0.1, relative=True))
    assert relative.error(np.array(2.2), np.array(2.0)) == pytest.approx(0.1)
    assert relative.uncertainty(np.array(4.0), np.array(0.4)) == pytest.approx(0.1)
    assert relative.uncertainty(np.array(0.0), np.array(0.4)) == math.inf   # never trusted


def test_audits_are_a_seeded_fraction() -> None:
    a = BoundPolicy(ErrorBound(value=1.0), audit_fraction=0.25, seed=3)
    b = BoundPolicy(ErrorBound(value=1.0), audit_fraction=0.25, seed=3)
    draws = [a.audit() for _ in range(2000)]
    assert draws == [b.audit() for _ in range(2000)]
    assert 0.2 < sum(draws) / len(draws) < 0.3
