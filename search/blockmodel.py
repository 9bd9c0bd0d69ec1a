"""The block model: accuracy as a sum of per-choice contributions.

An architecture of a modular space is a row of categorical *decisions* (resolution, a stage's
width, a layer's op, where "skipped" is a value of its own). The block model predicts

    accuracy(arch) = intercept + sum_i weight[i][choice_i(arch)]

and is fitted by ridge regression on one-hot features of any set of (architecture, accuracy)
pairs: a designed set (MathNAS's single-decision changes around an average network) or a
search's own evaluations. The ridge penalty is chosen by efficient leave-one-out
cross-validation; :func:`cross_validated_tau` reports how well the fit ranks unseen networks.
Because the model is additive and every cost of the project is a sum over blocks, the best
network under a budget is an integer programme (:mod:`search.programme`).

The search package sees decisions as integers; the space bridge (``evaluate.blocks``) maps
architectures to them. A model is stored as plain JSON tied to the space's fingerprint.

Example:
    >>> decisions = (Decision("a", ("x", "y")), Decision("b", ("p", "q", "r")))
    >>> choices = np.array([[0, 0], [1, 0], [0, 1], [0, 2], [1, 2], [1, 1]])
    >>> accuracy = np.array([1.0, 2.0, 1.5, 0.5, 1.5, 2.5])
    >>> model = fit_block_model(decisions, choices, accuracy, fingerprint="demo")
    >>> bool(model.predict(np.array([[1, 1]]))[0] > model.predict(np.array([[0, 2]]))[0])
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold

from lamoo_nas.search.errors import BlockModelError

ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""Ridge penalties tried by leave-one-out cross-validation."""
FORMAT = "lamoo-nas block model"


@dataclass(frozen=True)
class Decision:
    """One categorical decision of a space: ``name`` and the labels of its ``values``."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class BlockModel:
    """A fitted additive model; ``weights[i][j]`` is value ``j`` of decision ``i``'s term.

    ``alpha`` is the ridge penalty chosen; ``cv_kendall_tau`` the cross-validated Kendall tau
    (None where not computed); ``fingerprint`` the space's, so a model is never applied to
    another space; ``num_samples`` the pairs it was fitted on.
    """

    decisions: tuple[Decision, ...]
    intercept: float
    weights: tuple[tuple[float, ...], ...]
    alpha: float
    num_samples: int
    fingerprint: str
    cv_kendall_tau: float | None = None

    def predict(self, choices: np.ndarray) -> np.ndarray:
        """``(n, d)`` integer choices -> ``(n,)`` predicted accuracies."""
        rows = check_choices(self.decisions, choices)
        total = np.full(rows.shape[0], self.intercept)
        for i, weights in enumerate(self.weights):
            total += np.asarray(weights)[rows[:, i]]
        return total

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``json.dumps`` (no pickle); :meth:`from_json` reads it back."""
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "intercept": self.intercept,
            "alpha": self.alpha,
            "num_samples": self.num_samples,
            "cv_kendall_tau": self.cv_kendall_tau,
            "decisions": [
                {"name": d.name, "values": list(d.values), "weights": list(w)}
                for d, w in zip(self.decisions, self.weights)
            ],
        }

    @classmethod
    def from_json(cls, raw: Any, fingerprint: str, source: str = "block model") -> BlockModel:
        """A model from :meth:`to_json` data, checked field by field; ``fingerprint`` is the
        space it must belong to (:class:`BlockModelError` names ``source`` and the field)."""
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise BlockModelError(f"{source} is not a {FORMAT} (its 'format' field is missing)")
        if raw.get("fingerprint") != fingerprint:
            raise BlockModelError(
                f"{source} was fitted on another search space (fingerprint "
                f"{raw.get('fingerprint')!r}, this space {fingerprint!r}); fit one on this space"
            )
        decisions, weights = [], []
        for i, item in enumerate(_field(raw, "decisions", list, source)):
            where = f"{source} decisions[{i}]"
            values = tuple(str(v) for v in _field(item, "values", list, where))
            row = tuple(
                _number(w, f"{where}.weights") for w in _field(item, "weights", list, where)
            )
            if len(row) != len(values) or not values:
                raise BlockModelError(f"{where} has {len(values)} values and {len(row)} weights")
            decisions.append(Decision(str(_field(item, "name", str, where)), values))
            weights.append(row)
        tau = raw.get("cv_kendall_tau")
        return cls(
            decisions=tuple(decisions),
            intercept=_number(raw.get("intercept"), f"{source} intercept"),
            weights=tuple(weights),
            alpha=_number(raw.get("alpha"), f"{source} alpha"),
            num_samples=int(_number(raw.get("num_samples"), f"{source} num_samples")),
            fingerprint=fingerprint,
            cv_kendall_tau=None if tau is None else _number(tau, f"{source} cv_kendall_tau"),
        )


def check_choices(decisions: Sequence[Decision], choices: np.ndarray) -> np.ndarray:
    """``choices`` as an ``(n, d)`` int array whose entries index each decision's values."""
    rows = np.asarray(choices)
    if rows.ndim != 2 or rows.shape[1] != len(decisions):
        raise BlockModelError(
            f"choices have shape {rows.shape}, expected (n, {len(decisions)}) for the decisions "
            f"{[d.name for d in decisions]}"
        )
    rows = rows.astype(np.int64)
    sizes = np.array([len(d.values) for d in decisions])
    if rows.size and ((rows < 0) | (rows >= sizes)).any():
        raise BlockModelError(f"a choice is outside its decision's values (sizes {sizes.tolist()})")
    return rows


def one_hot(decisions: Sequence[Decision], choices: np.ndarray) -> np.ndarray:
    """``(n, sum_i |values_i|)`` indicator features, decision by decision."""
    rows = check_choices(decisions, choices)
    offsets = np.cumsum([0, *[len(d.values) for d in decisions]])
    features = np.zeros((rows.shape[0], int(offsets[-1])))
    for i in range(len(decisions)):
        features[np.arange(rows.shape[0]), offsets[i] + rows[:, i]] = 1.0
    return features


def fit_block_model(
    decisions: Sequence[Decision],
    choices: np.ndarray,
    accuracy: np.ndarray,
    fingerprint: str,
    cv_folds: int = 0,
    seed: int = 0,
) -> BlockModel:
    """Fit the additive model by ridge regression, its penalty chosen by leave-one-out CV.

    ``choices`` ``(n, d)`` and ``accuracy`` ``(n,)``; with ``cv_folds >= 2`` the model also
    carries its ``cv_folds``-fold cross-validated Kendall tau (shuffled with ``seed``).
    Raises :class:`BlockModelError` on fewer than 3 pairs, non-finite or constant accuracies.
    """
    decisions = tuple(decisions)
    x = one_hot(decisions, choices)
    y = _check_accuracy(accuracy, x.shape[0])
    ridge = RidgeCV(alphas=ALPHAS).fit(x, y)
    offsets = np.cumsum([0, *[len(d.values) for d in decisions]])
    coef = ridge.coef_
    weights = tuple(
        tuple(float(w) for w in coef[offsets[i] : offsets[i + 1]]) for i in range(len(decisions))
    )
    tau = cross_validated_tau(decisions, choices, y, cv_folds, seed) if cv_folds >= 2 else None
    return BlockModel(
        decisions=decisions,
        intercept=float(ridge.intercept_),
        weights=weights,
        alpha=float(ridge.alpha_),
        num_samples=int(x.shape[0]),
        fingerprint=fingerprint,
        cv_kendall_tau=tau,
    )


def cross_validated_tau(
    decisions: Sequence[Decision], choices: np.ndarray, accuracy: np.ndarray, folds: int, seed: int
) -> float:
    """Kendall tau between held-out predictions (each pair predicted by a model fitted without
    its fold, penalty re-chosen inside) and the measured accuracies."""
    x = one_hot(decisions, choices)
    y = _check_accuracy(accuracy, x.shape[0])
    folds = min(folds, x.shape[0])
    predicted = np.zeros_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        predicted[test] = RidgeCV(alphas=ALPHAS).fit(x[train], y[train]).predict(x[test])
    return _tau(predicted, y)


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    value = float(kendalltau(a, b).statistic)
    return 0.0 if math.isnan(value) else value


def _check_accuracy(accuracy: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(accuracy, dtype=np.float64).reshape(-1)
    if y.shape[0] != n:
        raise BlockModelError(f"{y.shape[0]} accuracies for {n} architectures")
    if n < 3:
        raise BlockModelError(
            f"a block model needs at least 3 evaluated architectures, got {n}; evaluate more"
        )
    if not np.isfinite(y).all():
        raise BlockModelError("an accuracy is NaN or infinite; drop that evaluation")
    if np.ptp(y) == 0:
        raise BlockModelError(
            f"all {n} accuracies are equal ({y[0]:g}): nothing to learn from; is the supernet "
            "trained, and are the evaluations on the validation data?"
        )
    return y


def _field(raw: Any, key: str, kind: type, where: str) -> Any:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(value, kind):
        raise BlockModelError(f"{where}: field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BlockModelError(f"{where} must be a finite number, got {value!r}")
    return float(value)
