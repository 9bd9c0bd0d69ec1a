"""qLogNEHVI over a discrete candidate pool or the continuous box, with exactly known
objectives never modelled.

A :class:`botorch.models.SingleTaskGP` (normalised inputs, standardised outputs) is fitted on the
*unknown* objectives only. Known objectives (analytic MACs/params) enter the acquisition as a
deterministic model that looks their exact values up, so the GP never sees them (which is why
they need the discrete pool: only tabulated encodings can be looked up).

Two ways to maximise the acquisition (``QEHVIOptions.acquisition``):

* ``pool``: the best of a discrete candidate pool (random feasible points plus mutations of the
  Pareto set), exact and the only choice for categorical spaces such as architecture encodings;
* ``continuous``: L-BFGS-B multistart over ``[0, 1]^d`` (:mod:`search.acquisition`), started
  from points of such a pool; for a :class:`~search.codec.BoxCodec` only.

``auto`` (the default) is ``continuous`` for a :class:`~search.codec.BoxCodec` without known
objectives, ``pool`` otherwise.

A model can also be fitted on a subset of the data (``fit_on``, LaMOO's local model); the
acquisition's baseline is then that subset too: a local GP knows nothing about far-away points,
so the improvement is measured against the front of the samples it saw. (qLogEHVI against the
front of all observed points was the alternative; its greedy batches cost ``2^q`` times more,
measured 10x slower on the 3-objective VehicleSafety.)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model, ModelList
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf_discrete
from botorch.sampling.get_sampler import get_sampler
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood

from lamoo_nas.search.acquisition import START_RULES, StartRule, optimise_batch
from lamoo_nas.search.codec import BoxCodec, SpaceCodec
from lamoo_nas.search.errors import InvalidOptionError, SearchError, UnknownStrategyError
from lamoo_nas.search.pareto import non_dominated_mask
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import Accept, BaseStrategy, KnownObjectives

A = TypeVar("A", bound=Hashable)
_LOOKUP_TOLERANCE = 1e-6
ACQUISITIONS = ("auto", "pool", "continuous")
Acquisition = Literal["auto", "pool", "continuous"]


@dataclass(frozen=True)
class QEHVIOptions:
    """qLogNEHVI hyperparameters.

    Attributes:
        pool_size: candidates scored by the acquisition per batch (``pool``).
        mutation_fraction: share of a pool (or of the continuous seeds) grown by mutating the
            current Pareto set (the rest is uniform random feasible points).
        max_batch_size: candidates scored in one acquisition call (memory bound).
        acquisition: one of ``ACQUISITIONS`` (see the module docstring).
        num_restarts: L-BFGS-B runs per candidate (``continuous``).
        raw_samples: seed points the starts are picked from (``continuous``).
        maxiter: L-BFGS-B iterations per run (``continuous``).
        start_rule: how starts are picked from the seeds, one of
            :data:`search.acquisition.START_RULES` (``boltzmann``: botorch's heuristic on the
            seeds' acquisition values; ``random``: uniformly, as the LaMOO paper's code).
        mc_samples: quasi-Monte-Carlo samples of the acquisition (botorch's default is 128).
        fit_maxiter: L-BFGS-B iterations of the GP hyperparameter fit (None: botorch's
            default, run to convergence; a cap trades fit accuracy for time).
    """

    pool_size: int = 1000
    mutation_fraction: float = 0.5
    max_batch_size: int = 512
    acquisition: Acquisition = "auto"
    num_restarts: int = 10
    raw_samples: int = 512
    maxiter: int = 200
    start_rule: StartRule = "boltzmann"
    mc_samples: int = 128
    fit_maxiter: int | None = None

    def __post_init__(self) -> None:
        if self.acquisition not in ACQUISITIONS:
            raise UnknownStrategyError(
                f"acquisition {self.acquisition!r} is not one of {ACQUISITIONS}"
            )
        if self.start_rule not in START_RULES:
            raise UnknownStrategyError(
                f"start_rule {self.start_rule!r} is not one of {START_RULES}"
            )
        small = {
            k: getattr(self, k)
            for k in (
                "pool_size",
                "max_batch_size",
                "num_restarts",
                "raw_samples",
                "maxiter",
                "mc_samples",
                "fit_maxiter",
            )
            if getattr(self, k) is not None and getattr(self, k) < 1
        }
        if small or self.raw_samples < self.num_restarts:
            raise InvalidOptionError(
                f"qehvi options must be >= 1 with raw_samples >= num_restarts, got {small or ''}"
                f" raw_samples={self.raw_samples}, num_restarts={self.num_restarts}"
            )


def resolve_acquisition(
    acquisition: str, codec: SpaceCodec[Any], known: KnownObjectives[Any] | None
) -> Literal["pool", "continuous"]:
    """``pool`` or ``continuous`` for ``acquisition`` (``auto`` resolved) on ``codec``.

    ``continuous`` needs a :class:`~search.codec.BoxCodec` (a point is its encoding, every point
    is feasible) and no known objectives (their values are looked up per pool point); asking
    for it otherwise raises :class:`~search.errors.InvalidOptionError`.

    Example:
        >>> resolve_acquisition("auto", BoxCodec([0.0], [1.0]), None)
        'continuous'
    """
    if acquisition == "pool":
        return "pool"
    box = isinstance(codec, BoxCodec)
    if acquisition == "auto":
        return "continuous" if box and known is None else "pool"
    if not box or known is not None:
        why = (
            "known objectives are looked up per pool point"
            if box
            else (f"{type(codec).__name__} is not a continuous box (BoxCodec)")
        )
        raise InvalidOptionError(f"acquisition 'continuous' is not possible here: {why}; use pool")
    return "continuous"


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


def fit_gp(x: torch.Tensor, y: torch.Tensor, maxiter: int | None = None) -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` on ``x`` ``(n, d)`` in [0, 1] and ``y`` ``(n, k)`` (maximised);
    ``maxiter`` caps the L-BFGS-B iterations of the fit (None: botorch's default)."""
    gp = SingleTaskGP(
        x, y, input_transform=Normalize(d=x.shape[-1]), outcome_transform=Standardize(m=y.shape[-1])
    )
    options = {} if maxiter is None else {"optimizer_kwargs": {"options": {"maxiter": maxiter}}}
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp), **options)  # type: ignore[arg-type]
    return gp


def build_model(
    x: torch.Tensor,
    y: torch.Tensor,
    unknown_columns: Sequence[int],
    known_table: tuple[torch.Tensor, torch.Tensor] | None,
    fit_maxiter: int | None = None,
) -> Model:
    """Model whose outputs are ``[unknown columns..., known columns...]``.

    Args:
        x: ``(n, d)`` training encodings.
        y: ``(n, m)`` maximised objectives; only ``unknown_columns`` are fitted.
        unknown_columns: objectives the GP learns (at least one).
        known_table: ``(table_x (t, d), table_y (t, k))`` exact known objectives, or None.
        fit_maxiter: see :func:`fit_gp`.
    """
    if len(unknown_columns) == 0:
        raise SearchError("qehvi needs at least one unknown objective to model; got none")
    gp = fit_gp(x, y[:, list(unknown_columns)], fit_maxiter)
    if known_table is None:
        return gp
    lookup = _TableLookup(*known_table)
    return ModelList(gp, GenericDeterministicModel(lookup, num_outputs=known_table[1].shape[-1]))


def make_acquisition(
    model: Model,
    x_baseline: torch.Tensor,
    ref_point: torch.Tensor,
    mc_samples: int = QEHVIOptions.mc_samples,
) -> qLogNoisyExpectedHypervolumeImprovement:
    """qLogNEHVI of ``model`` against the front it predicts at ``x_baseline`` ``(n, d)`` (the
    encodings it was fitted on), with ``ref_point`` ``(m,)`` in the model's output order and
    ``mc_samples`` quasi-MC samples (their seed drawn from torch's generator)."""
    with torch.no_grad():  # botorch's own choice of sampler for this model (e.g. a list)
        posterior = model.posterior(x_baseline[:1])
        sampler = get_sampler(posterior, sample_shape=torch.Size([mc_samples]))  # type: ignore[arg-type]
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=x_baseline,
        prune_baseline=True,
        sampler=sampler,
    )


def _model_and_acquisition(
    x: np.ndarray,
    y: np.ndarray,
    ref_point: np.ndarray,
    known_columns: Sequence[int],
    table: tuple[torch.Tensor, torch.Tensor] | None,
    fit_on: np.ndarray | None,
    options: QEHVIOptions,
) -> tuple[Model, AcquisitionFunction]:
    """The model fitted on the ``fit_on`` rows (None: all) and its acquisition, whose baseline
    is those same rows."""
    m = y.shape[1]
    unknown = [j for j in range(m) if j not in set(known_columns)]
    order = unknown + list(known_columns)
    rows = np.arange(len(x)) if fit_on is None else np.asarray(fit_on, dtype=np.int64)
    tx, ty = torch.as_tensor(x[rows]), torch.as_tensor(y[rows])
    model = build_model(tx, ty, unknown, table, options.fit_maxiter)
    acq = make_acquisition(model, tx, torch.as_tensor(ref_point[order]), options.mc_samples)
    return model, acq


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
    fit_on: np.ndarray | None = None,
    options: QEHVIOptions | None = None,
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
        fit_on: indices of the rows the GP is fitted on and the acquisition's baseline (None:
            all rows).
        options: ``fit_maxiter`` and ``mc_samples`` (None: the defaults).
    """
    options = options or QEHVIOptions()
    tx, tpool = torch.as_tensor(x), torch.as_tensor(pool_x)
    table = None
    if known_columns:
        assert pool_known is not None and train_known is not None
        table = (torch.cat([tx, tpool]), torch.as_tensor(np.vstack([train_known, pool_known])))
    with manual_seed(seed):
        model, acq = _model_and_acquisition(x, y, ref_point, known_columns, table, fit_on, options)
        chosen, _ = optimize_acqf_discrete(
            acq, q=min(q, len(pool_x)), choices=tpool, max_batch_size=max_batch_size
        )
    dist = torch.cdist(chosen, tpool)
    return [int(i) for i in dist.argmin(dim=-1)], model


def select_continuous(
    x: np.ndarray,
    y: np.ndarray,
    seeds_x: np.ndarray,
    q: int,
    ref_point: np.ndarray,
    seed: int,
    rng: np.random.Generator,
    options: QEHVIOptions,
    fit_on: np.ndarray | None = None,
    accept: Accept | None = None,
) -> tuple[np.ndarray, Model]:
    """``(q, d)`` encodings maximising the acquisition by L-BFGS-B multistart over ``[0, 1]^d``
    from starts picked among ``seeds_x`` ``(p, d)`` (see :func:`search.acquisition.
    optimise_batch`; ``accept`` keeps the results in a region); returns them and the model.

    Args as for :func:`select_from_pool` (no known objectives); ``rng`` draws ``random``
    starts; ``options`` gives ``num_restarts``, ``maxiter`` and ``start_rule``.
    """
    with manual_seed(seed):
        model, acq = _model_and_acquisition(x, y, ref_point, (), None, fit_on, options)
        chosen = optimise_batch(
            acq,
            q,
            torch.as_tensor(seeds_x),
            options.num_restarts,
            options.maxiter,
            rng,
            options.start_rule,
            accept,
        )
    return chosen.numpy(), model


class QEHVISelector(Generic[A]):
    """The candidate-selection step shared by :class:`QEHVIStrategy` and LaMOO's ``qehvi``
    sampler: fit a GP on the told (feasible) data and pick ``q`` pool members by qLogNEHVI
    (:meth:`select`), or optimise the acquisition over the box from seed points
    (:meth:`select_continuous`).

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
        options: QEHVIOptions | None = None,
    ) -> None:
        self.codec = codec
        self.ref_point = np.asarray(ref_point, dtype=np.float64)
        self.known_objectives = known_objectives
        self.max_batch_size = max_batch_size
        self.options = options or QEHVIOptions(max_batch_size=max_batch_size)
        self.last_model: Model | None = None

    def select(
        self,
        pool: Sequence[A],
        q: int,
        archs: Sequence[A],
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        fit_on: np.ndarray | None = None,
    ) -> list[A]:
        """``q`` archs of ``pool`` chosen by qLogNEHVI given feasible training data.

        Args:
            pool: unique candidates (fresh, feasible).
            q: batch size; a pool of at most ``q`` points, or fewer than 2 training points,
                is returned as is (first ``q``) without a model.
            archs: the ``n`` told feasible archs; ``x`` ``(n, d)`` their encodings, ``y``
                ``(n, m)`` their maximised objectives.
            rng: the caller's generator (one draw per fitted model).
            fit_on: indices of the rows the GP is fitted on (a local model; None: all).
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
            fit_on=fit_on,
            options=self.options,
        )
        return [pool[i] for i in idx]

    def select_continuous(
        self,
        seeds: Sequence[A],
        q: int,
        archs: Sequence[A],
        x: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        fit_on: np.ndarray | None = None,
        accept: Accept | None = None,
    ) -> list[A]:
        """``q`` points (decoded) maximising the acquisition over the box, the L-BFGS-B runs
        started from points of ``seeds`` (``accept``: every result kept inside that region,
        which must accept every seed). Fewer than 2 training points: the first ``q`` seeds,
        without a model. Needs no known objectives (see :func:`resolve_acquisition`).
        """
        if self.known_objectives is not None:
            raise InvalidOptionError("continuous acquisition cannot score known objectives")
        if len(archs) < 2 or not seeds:
            return list(seeds[:q])
        encodings, self.last_model = select_continuous(
            x,
            y,
            self.codec.encode(seeds),
            q,
            self.ref_point,
            int(rng.integers(2**31)),
            rng,
            self.options,
            fit_on,
            accept,
        )
        return self.codec.decode(encodings)


class QEHVIStrategy(BaseStrategy[A]):
    """qLogNEHVI on a pool of random feasible points plus mutations of the Pareto set, or
    (``acquisition`` ``continuous``, the default on a :class:`~search.codec.BoxCodec`) over the
    box by L-BFGS-B multistart seeded from such a pool.

    The selection step is a :class:`QEHVISelector` (``self.selector``); ``last_model`` is its
    last fitted model; ``acquisition`` is the resolved ``pool`` or ``continuous``.

    Example:
        >>> from search.codec import BoxCodec
        >>> s = QEHVIStrategy(BoxCodec([0.0] * 2, [1.0] * 2), ref_point=[0.0, 0.0], seed=0)
        >>> len(s.ask(2)), s.acquisition
        (2, 'continuous')
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
        self.acquisition = resolve_acquisition(self.options.acquisition, codec, known_objectives)
        self.selector: QEHVISelector[A] = QEHVISelector(
            codec, self.ref_point, known_objectives, self.options.max_batch_size, self.options
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
        options = self.options
        if self.acquisition == "pool":
            pool = self._candidate_pool(options.pool_size, pareto, options.mutation_fraction)
            return self.selector.select(pool, q, archs, x, y, self._rng)
        seeds = self._candidate_pool(options.raw_samples, pareto, options.mutation_fraction)
        # the seeds after the optimised points: the fill-in should a result repeat a told point
        return self.selector.select_continuous(seeds, q, archs, x, y, self._rng) + seeds


def _build(request: StrategyRequest[Any], options: QEHVIOptions) -> QEHVIStrategy[Any]:
    return QEHVIStrategy(
        request.codec,
        request.ref_point,
        request.seed,
        request.num_init,
        request.known_objectives,
        options,
    )


SPEC = StrategySpec("qehvi", QEHVIOptions, _build)
