"""search.blockmodel: the additive fit recovers additive truth, JSON round trip, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamoo_nas.search.blockmodel import BlockModel, Decision, fit_block_model, one_hot
from lamoo_nas.search.errors import BlockModelError

DECISIONS = (Decision("a", ("x", "y", "z")), Decision("b", ("p", "q")), Decision("c", ("u", "v")))


def _all_choices() -> np.ndarray:
    return np.array([[a, b, c] for a in range(3) for b in range(2) for c in range(2)])


def test_an_additive_truth_is_recovered_and_ranked() -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=len(d.values)) for d in DECISIONS]
    choices = _all_choices()
    truth = 5.0 + sum(w[choices[:, i]] for i, w in enumerate(weights))
    model = fit_block_model(DECISIONS, choices, truth, "fp", cv_folds=4)
    assert np.allclose(model.predict(choices), truth, atol=0.05)
    assert model.cv_kendall_tau is not None and model.cv_kendall_tau > 0.8
    # the contributions are identified up to a constant per decision
    for i, w in enumerate(weights):
        assert np.allclose(np.diff(model.weights[i]), np.diff(w), atol=0.05)


def test_noise_is_averaged_over_shared_blocks() -> None:
    """Noisy single scores rank worse than the model fitted on them (the point of the model)."""
    rng = np.random.default_rng(1)
    decisions = tuple(Decision(f"d{i}", ("0", "1", "2")) for i in range(8))
    choices = rng.integers(0, 3, size=(120, 8))
    weights = rng.normal(size=(8, 3))
    truth = weights[np.arange(8), choices].sum(axis=1)
    noisy = truth + rng.normal(scale=1.0, size=truth.shape)
    model = fit_block_model(decisions, choices, noisy, "fp")
    from scipy.stats import kendalltau

    assert kendalltau(model.predict(choices), truth).statistic > kendalltau(noisy, truth).statistic


def test_json_round_trip_and_space_check() -> None:
    model = fit_block_model(DECISIONS, _all_choices(), np.arange(12.0), "fp")
    again = BlockModel.from_json(json.loads(json.dumps(model.to_json())), "fp")
    assert again == model
    with pytest.raises(BlockModelError, match="another search space"):
        BlockModel.from_json(model.to_json(), "other")
    broken = model.to_json()
    broken["decisions"][1]["weights"] = ["a", 1.0]
    with pytest.raises(BlockModelError, match=r"decisions\[1\].weights must be a finite number"):
        BlockModel.from_json(broken, "fp", source="m.json")
    with pytest.raises(BlockModelError, match="is not a lamoo-nas block model"):
        BlockModel.from_json({"format": "pickle"}, "fp")


@pytest.mark.parametrize(
    ("accuracy", "message"),
    [
        (np.array([1.0, 2.0]), "at least 3 evaluated"),
        (np.full(12, 0.5), "all 12 accuracies are equal"),
        (np.r_[np.arange(11.0), np.nan], "NaN or infinite"),
    ],
)
def test_bad_histories_are_named(accuracy: np.ndarray, message: str) -> None:
    choices = _all_choices()[: len(accuracy)]
    with pytest.raises(BlockModelError, match=message):
        fit_block_model(DECISIONS, choices, accuracy, "fp")


def test_choices_outside_the_decisions_are_refused() -> None:
    with pytest.raises(BlockModelError, match="outside its decision's values"):
        one_hot(DECISIONS, np.array([[3, 0, 0]]))
    with pytest.raises(BlockModelError, match=r"expected \(n, 3\)"):
        one_hot(DECISIONS, np.zeros((2, 2), dtype=int))
