"""The model protocol with both default models: each recovers a smooth function, and its
uncertainty says where it does not know."""

from __future__ import annotations

import numpy as np
import pytest

from tandem.errors import SpecError
from tandem.surrogate import EnsembleModel, GPModel, Model
from tandem.surrogate.protocols import checked_prediction

from .funcs import NoStd

X = np.linspace(0.0, 2 * np.pi, 40)[:, None]
Y = np.sin(X[:, 0])
INSIDE = np.linspace(0.3, 6.0, 25)[:, None]


@pytest.mark.parametrize(("prototype", "tolerance"), [
    (GPModel(restarts=0), 1e-3),
    (EnsembleModel(members=4, hidden=(32, 32), epochs=400, seed=1), 0.05),
])
def test_both_defaults_recover_a_smooth_function(prototype: Model, tolerance: float) -> None:
    assert isinstance(prototype, Model)
    model = prototype.fit(X, Y)
    mean, std = checked_prediction(model, model.predict(INSIDE), len(INSIDE))
    assert np.max(np.abs(mean - np.sin(INSIDE[:, 0]))) < tolerance
    assert mean.shape == std.shape == (len(INSIDE),)
    # Far from the data the model is less sure than where it was trained.
    _, far = model.predict(np.array([[4 * np.pi]]))
    assert far[0] > np.mean(std)
    with pytest.raises(SpecError, match="predict before fit"):
        prototype.predict(INSIDE)        # fit returned a new model; the prototype is as it was


@pytest.mark.parametrize("prototype", [GPModel(restarts=0),
                                       EnsembleModel(members=2, hidden=(8,), epochs=50)])
def test_vector_outputs_keep_their_shape(prototype: Model) -> None:
    both = np.stack([np.sin(X[:, 0]), np.cos(X[:, 0])], axis=1)
    mean, std = prototype.fit(X, both).predict(INSIDE[:3])
    assert mean.shape == std.shape == (3, 2)


def test_a_model_without_uncertainty_is_refused_by_name() -> None:
    model = NoStd()
    with pytest.raises(SpecError, match=r"NoStd: predict must return \(mean, std\)"):
        checked_prediction(model, model.predict(INSIDE), len(INSIDE))


def test_bad_model_settings_are_named() -> None:
    with pytest.raises(SpecError, match="members must be an integer >= 2"):
        EnsembleModel(members=1)
    with pytest.raises(SpecError, match="length_scale"):
        GPModel(length_scale=0)
