"""Duration models recover known durations; few or flat samples give a median."""

from __future__ import annotations

import random

import pytest

from tandem.history import model as model_module
from tandem.history.model import MIN_BOOSTED, fit, held_out_error


def linear(n_samples: int) -> list[tuple[dict[str, float | str], float]]:
    """duration = 0.1 * n, n = 1..100 (twice each, shuffled), 1 % noise."""
    rng = random.Random(7)
    ns = [n for n in range(1, 101) for _ in range(2)][:n_samples]
    rng.shuffle(ns)
    return [({"cores": 1.0, "f.n": float(n)}, 0.1 * n * rng.uniform(0.99, 1.01)) for n in ns]


def test_a_boosted_model_recovers_duration_from_a_feature() -> None:
    pytest.importorskip("sklearn")
    m = fit(linear(200))
    assert m.kind == "boosted" and m.columns == ("f.n",)
    for n in (5, 20, 50, 80, 100):
        p50, p90 = m.predict({"cores": 1.0, "f.n": float(n)})
        assert p50 == pytest.approx(0.1 * n, rel=0.1)
        assert p90 >= p50
    err = held_out_error(linear(200))
    assert err is not None and err < 0.1


def test_string_features_are_categories() -> None:
    pytest.importorskip("sklearn")
    rng = random.Random(1)
    samples = [({"f.model": m}, d * rng.uniform(0.99, 1.01))
               for _ in range(30) for m, d in (("small", 1.0), ("large", 8.0))]
    m = fit(samples)
    assert m.kind == "boosted"
    assert m.predict({"f.model": "large"})[0] == pytest.approx(8.0, rel=0.1)
    assert m.predict({"f.model": "small"})[0] == pytest.approx(1.0, rel=0.1)


def test_few_samples_or_nothing_that_varies_give_the_median() -> None:
    few = fit(linear(MIN_BOOSTED - 1))
    assert few.kind == "median" and "samples" in few.why
    flat = fit([({"cores": 1.0}, d) for d in (1.0, 2.0, 3.0) * 20])
    assert flat.kind == "median" and flat.why == "no input varies"
    assert flat.predict({"cores": 1.0}) == (2.0, 3.0)
    # a number given once and missing elsewhere is not an input that varies
    once = fit([({"arg0": 0.0}, 1.0)] + [({}, 1.0)] * 40)
    assert once.kind == "median"


def test_without_scikit_learn_every_model_is_a_median(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "sklearn_available", lambda: False)
    m = fit(linear(200))
    assert m.kind == "median" and "scikit-learn is not installed" in m.why
    assert m.p50 == pytest.approx(5.0, rel=0.05)


def test_held_out_error_needs_five_samples() -> None:
    assert held_out_error(linear(4)) is None
    exact = [({"cores": 1.0}, 2.0)] * 10
    assert held_out_error(exact) == 0.0


def test_a_boosted_model_predicts_by_bins_without_calling_scikit_learn_again() -> None:
    pytest.importorskip("sklearn")
    rng = random.Random(3)
    samples: list[tuple[dict[str, float | str], float]] = []
    for _ in range(2000):     # more distinct sizes than bins: the bins are quantiles
        n = rng.uniform(1.0, 1000.0)
        samples.append(({"cores": 1.0, "arg0": n}, 0.001 * n))
    m = fit(samples)
    assert m.kind == "boosted" and len(m.edges["arg0"]) == model_module.MAX_BINS - 1
    calls = []
    real = m.q50.predict
    m.q50.predict = lambda X: calls.append(len(X)) or real(X)
    for n in range(1, 1000, 7):            # every bin was predicted when the model was fitted
        assert m.predict({"cores": 1.0, "arg0": n + 0.5})[0] == pytest.approx(
            0.001 * (n + 0.5), rel=0.1, abs=0.01)
    assert calls == []
    assert m.predict({"cores": 1.0})[0] > 0          # a missing input is its own bin


def test_two_inputs_are_predicted_once_per_pair_of_bins() -> None:
    pytest.importorskip("sklearn")
    samples: list[tuple[dict[str, float | str], float]] = [
        ({"arg0": float(a), "arg1": float(b)}, 0.01 * a + 0.1 * b)
        for a in range(1, 21) for b in range(1, 6)]
    m = fit(samples)
    assert m.columns == ("arg0", "arg1")
    calls = []
    real = m.q50.predict
    m.q50.predict = lambda X: calls.append(len(X)) or real(X)
    first = m.predict({"arg0": 10.0, "arg1": 3.0})
    assert m.predict({"arg0": 10.2, "arg1": 2.9}) == first     # the same bins
    assert calls == [1]
    assert first[0] == pytest.approx(0.01 * 10 + 0.1 * 3, rel=0.15)
