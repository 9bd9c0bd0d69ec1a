"""qLogNEHVI over a discrete candidate pool, with exactly known objectives never modelled.

A :class:`botorch.models.SingleTaskGP` (normalised inputs, standardised outputs) is fitted on the
*unknown* objectives only. Known objectives (analytic MACs/params) enter the acquisition as a
deterministic model that looks their exact values up, so the GP never sees them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model, ModelList
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf_discrete
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood

from search.codec import SpaceCodec
from search.errors import SearchError
from search.pareto import non_dominated_mask
from search.strategy import BaseStrategy, KnownObjectives

A = TypeVar("A", bound=Hashable)
_LOOKUP_TOLERANCE = 1e-6


@dataclass(frozen=True)
class QEHVIOptions:
    """qLogNEHVI hyperparameters.

    Attributes:
        pool_size: candidates scored by the acquisition per batch.
        mutation_fraction: share of the pool grown by mutating the current Pareto set
            (the rest is uniform random feasible points).
        max_batch_size: candidates scored in one acquisition call (memory bound).
    """

    pool_size: int = 1000
    mutation_fraction: float = 0.5
    max_batch_size: int = 512


class _TableLookup(torch.nn.Module):
    """Exact values of known objectives at encodings found in a table (nearest row, checked)."""

    def __init__(self, table_x: torch.Tensor, table_y: torch.Tensor) -> None:
        super().__init__()
        self.table_x = table_x
        self.table_y = table_y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        dist, idx = torch.cdist(flat, self.table_x).min(dim=-1)
        if flat.shape[0] and float(dist.max()) > _LOOKUP_TOLERANCE:
            raise SearchError(
                f"known objectives requested at an encoding {float(dist.max()):.3g} away from "
                "every tabulated candidate; only pool and training points can be scored"
            )
        return self.table_y[idx].reshape(*x.shape[:-1], self.table_y.shape[-1])


def fit_gp(x: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` on ``x`` ``(n, d)`` in [0, 1] and ``y`` ``(n, k)`` (maximised)."""
    gp = SingleTaskGP(
        x, y, input_transform=Normalize(d=x.shape[-1]), outcome_transform=Standardize(m=y.shape[-1])
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    return gp


def build_model(
    x: torch.Tensor,
    y: torch.Tensor,
    unknown_columns: Sequence[int],
    known_table: tuple[torch.Tensor, torch.Tensor] | None,
) -> Model:
    """Model whose outputs are ``[unknown columns..., known columns...]``.

    Args:
        x: ``(n, d)`` training encodings.
        y: ``(n, m)`` maximised objectives; only ``unknown_columns`` are fitted.
        unknown_columns: objectives the GP learns (at least one).
        known_table: ``(table_x (t, d), table_y (t, k))`` exact known objectives, or None.
    """
    if len(unknown_columns) == 0:
        raise SearchError("qehvi needs at least one unknown objective to model; got none")
    gp = fit_gp(x, y[:, list(unknown_columns)])
    if known_table is None:
        return gp
    lookup = _TableLookup(*known_table)
    return ModelList(gp, GenericDeterministicModel(lookup, num_outputs=known_table[1].shape[-1]))


def select_from_pool(
    x: np.ndarray,
    y: np.ndarray,
    pool_x: np.ndarray,
    q: int,
    ref_point: np.ndarray,
    seed: int,
    known_columns: Sequence[int] = (),
    pool_known: np.ndarray | None = None,
    train_known: np.ndarray | None = None,
    max_batch_size: int = 512,
) -> tuple[list[int], Model]:
    """Pick ``q`` pool rows by greedy sequential qLogNEHVI; returns their indices and the model
    (outputs ordered ``[unknown..., known...]``).

    Args:
        x: ``(n, d)`` training encodings; ``y``: ``(n, m)`` maximised objectives.
        pool_x: ``(p, d)`` candidate encodings (unique rows).
        q: batch size (``q <= p``).
        ref_point: ``(m,)``.
        seed: seeds the GP fit retries and the MC sampler (global torch RNG state restored).
        known_columns: objectives given exactly by ``pool_known`` ``(p, k)`` and ``train_known``
            ``(n, k)`` instead of the GP.
    """
    m = y.shape[1]
    unknown = [j for j in range(m) if j not in set(known_columns)]
    order = unknown + list(known_columns)
    tx, ty = torch.as_tensor(x), torch.as_tensor(y)
    tpool = torch.as_tensor(pool_x)
    table = None
    if known_columns:
        assert pool_known is not None and train_known is not None
        table = (torch.cat([tx, tpool]), torch.as_tensor(np.vstack([train_known, pool_known])))
    with manual_seed(seed):
        model = build_model(tx, ty, unknown, table)
        acq = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=torch.as_tensor(ref_point[order]),
            X_baseline=tx,
            prune_baseline=True,
        )
        chosen, _ = optimize_acqf_discrete(
            acq, q=min(q, len(pool_x)), choices=tpool, max_batch_size=max_batch_size
        )
    dist = torch.cdist(chosen, tpool)
    return [int(i) for i in dist.argmin(dim=-1)], model


class QEHVISelector(Generic[A]):
    """The candidate-selection step shared by :class:`QEHVIStrategy` and LaMOO's ``qehvi``
    sampler: fit a GP on the told (feasible) data and pick ``q`` pool members by qLogNEHVI.

    It owns no data and no random state: the caller hands in the training data and its own
    generator, from which one seed is drawn per fitted model (none when no model is needed).
    ``last_model`` is the model of the last selection (None before the first).

    Example:
        >>> from search.codec import BoxCodec
        >>> selector = QEHVISelector(BoxCodec([0.0], [1.0]), np.zeros(2))
        >>> selector.select([(0.5,)], 1, [], np.zeros((0, 1)), np.zeros((0, 2)),
        ...                 np.random.default_rng(0))
        [(0.5,)]
    """

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: np.ndarray,
        known_objectives: KnownObjectives[A] | None = None,
        max_batch_size: int = QEHVIOptions.max_batch_size,
    ) -> None:
        self.codec = codec
        self.ref_point = np.asarray(ref_point, dtype=np.float64)
        self.known_objectives = known_objectives
        self.max_batch_size = max_batch_size
        self.last_model: Model | None = None

    def select(
        self,
        pool: Sequence[A],
        q: int,
        archs: Sequence[A],
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
    ) -> list[A]:
        """``q`` archs of ``pool`` chosen by qLogNEHVI given feasible training data.

        Args:
            pool: unique candidates (fresh, feasible).
            q: batch size; a pool of at most ``q`` points, or fewer than 2 training points,
                is returned as is (first ``q``) without a model.
            archs: the ``n`` told feasible archs; ``x`` ``(n, d)`` their encodings, ``y``
                ``(n, m)`` their maximised objectives.
            rng: the caller's generator (one draw per fitted model).
        """
        if len(pool) <= q or len(archs) < 2:
            return list(pool[:q])
        known = self.known_objectives
        columns = known.columns if known else ()
        idx, self.last_model = select_from_pool(
            x,
            y,
            self.codec.encode(pool),
            q,
            self.ref_point,
            seed=int(rng.integers(2**31)),
            known_columns=columns,
            pool_known=np.asarray(known.fn(pool), dtype=np.float64) if known else None,
            train_known=y[:, list(columns)] if known else None,
            max_batch_size=self.max_batch_size,
        )
        return [pool[i] for i in idx]


class QEHVIStrategy(BaseStrategy[A]):
    """qLogNEHVI on a pool of random feasible points plus mutations of the Pareto set.

    The selection step is a :class:`QEHVISelector` (``self.selector``); ``last_model`` is its
    last fitted model.

    Example:
        >>> from search.codec import BoxCodec
        >>> s = QEHVIStrategy(BoxCodec([0.0] * 2, [1.0] * 2), ref_point=[0.0, 0.0], seed=0)
        >>> len(s.ask(2))
        2
    """

    name = "qehvi"

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        known_objectives: KnownObjectives[A] | None = None,
        options: QEHVIOptions | None = None,
    ) -> None:
        super().__init__(codec, ref_point, seed, num_init)
        self.known_objectives = known_objectives
        self.options = options or QEHVIOptions()
        self.selector: QEHVISelector[A] = QEHVISelector(
            codec, self.ref_point, known_objectives, self.options.max_batch_size
        )

    @property
    def last_model(self) -> Model | None:
        """The model behind the last proposal (None until one was fitted)."""
        return self.selector.last_model

    def _state_settings(self) -> dict[str, Any]:
        known = self.known_objectives.columns if self.known_objectives else ()
        return {**super()._state_settings(), "qehvi": asdict(self.options), "known": list(known)}

    def _propose(self, q: int) -> list[A]:
        archs, x, y = self._feasible_data()
        pareto = [a for a, ok in zip(archs, non_dominated_mask(y)) if ok]
        pool = self._candidate_pool(self.options.pool_size, pareto, self.options.mutation_fraction)
        return self.selector.select(pool, q, archs, x, y, self._rng)
