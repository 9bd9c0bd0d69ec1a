"""Continuous multistart optimisation of a batch acquisition function on the unit cube.

The one optimiser behind every continuous ``qehvi`` proposal (plain qEHVI and LaMOO's inner
sampler), so that the strategies differ only in where the optimiser starts and whether its
results must stay in a region:

* starts: ``num_restarts`` points picked from a *seed pool* of encodings, either by botorch's
  Boltzmann heuristic on their acquisition values (:func:`botorch.optim.initializers.
  initialize_q_batch`, what ``optimize_acqf`` does with its raw samples) or uniformly at random
  (what the LaMOO paper's code does with its in-region Latin-hypercube points);
* each start runs L-BFGS-B over the whole box ``[0, 1]^d``
  (:func:`botorch.generation.gen.gen_candidates_scipy`);
* ``accept`` given (LaMOO's strict variant): a result the region rejects is replaced by the last
  point of the segment from its start (inside) to it that the region accepts (bisection), so
  every proposal lies in the region;
* sequential greedy batches: the best result becomes a pending point and the next of the ``q``
  candidates is optimised given it, as ``optimize_acqf(..., sequential=True)`` does (botorch's
  advice for qEHVI; a joint ``q x d`` optimisation measured no cheaper here, as each call of a
  joint batch costs more).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.generation.gen import gen_candidates_scipy
from botorch.optim.initializers import initialize_q_batch

from lamoo_nas.search.errors import InvalidOptionError
from lamoo_nas.search.strategy import Accept

START_RULES = ("boltzmann", "random")
StartRule = Literal["boltzmann", "random"]
_BISECTION_STEPS = 20


def optimise_batch(
    acq: AcquisitionFunction,
    q: int,
    seeds: torch.Tensor,
    num_restarts: int,
    maxiter: int,
    rng: np.random.Generator,
    start_rule: StartRule = "boltzmann",
    accept: Accept | None = None,
) -> torch.Tensor:
    """``(q, d)`` candidates in ``[0, 1]^d`` maximising ``acq`` greedily, one at a time.

    Args:
        acq: a Monte-Carlo batch acquisition function (it has ``X_pending``, restored at the
            end) on ``(b, 1, d)`` inputs.
        q: batch size.
        seeds: ``(p, d)`` encodings the starts are picked from (``p >= 1``; with ``accept``,
            every seed must be accepted).
        num_restarts: L-BFGS-B runs per candidate (at most ``p``).
        maxiter: L-BFGS-B iterations per run.
        rng: draws the ``random`` starts (nothing is drawn for ``boltzmann``, whose sampling
            uses torch's generator: seed it, e.g. with ``botorch.utils.sampling.manual_seed``).
        start_rule: one of ``START_RULES``.
        accept: region test; results outside are pulled back towards their start.

    Example:
        >>> from botorch.acquisition.monte_carlo import qSimpleRegret
        >>> from botorch.models import SingleTaskGP
        >>> x = torch.rand(8, 2, dtype=torch.float64)
        >>> gp = SingleTaskGP(x, -(x - 0.3).pow(2).sum(-1, keepdim=True))
        >>> out = optimise_batch(qSimpleRegret(gp), 2, x, 4, 20, np.random.default_rng(0))
        >>> tuple(out.shape), bool(((0 <= out) & (out <= 1)).all())
        ((2, 2), True)
    """
    if start_rule not in START_RULES:
        raise InvalidOptionError(f"start_rule {start_rule!r} is not one of {START_RULES}")
    if seeds.ndim != 2 or seeds.shape[0] < 1:
        shape = tuple(seeds.shape)
        raise InvalidOptionError(f"seeds must be a non-empty (p, d) tensor, got shape {shape}")
    if q < 1 or num_restarts < 1 or maxiter < 1:
        raise InvalidOptionError(
            f"need q, num_restarts and maxiter >= 1, got {q}, {num_restarts}, {maxiter}"
        )
    base_pending = acq.X_pending
    chosen: list[torch.Tensor] = []
    try:
        for _ in range(q):
            if chosen:
                pending = torch.stack(chosen)
                if base_pending is not None:
                    pending = torch.cat([base_pending, pending])
                acq.set_X_pending(pending)
            chosen.append(_optimise(acq, seeds, num_restarts, maxiter, rng, start_rule, accept))
    finally:
        acq.set_X_pending(base_pending)
    return torch.stack(chosen)


def _optimise(
    acq: AcquisitionFunction,
    seeds: torch.Tensor,
    num_restarts: int,
    maxiter: int,
    rng: np.random.Generator,
    start_rule: StartRule,
    accept: Accept | None,
) -> torch.Tensor:
    """The best ``(d,)`` result of L-BFGS-B runs from ``num_restarts`` starts."""
    starts = _starts(acq, seeds, num_restarts, rng, start_rule)
    results, _ = gen_candidates_scipy(
        starts, acq, lower_bounds=0.0, upper_bounds=1.0, options={"maxiter": maxiter}
    )
    results = results.detach()
    if accept is not None:
        results = pull_back(starts, results, accept)
    with torch.no_grad():
        values = acq(results)
    return results[int(values.argmax()), 0]


def pull_back(starts: torch.Tensor, results: torch.Tensor, accept: Accept) -> torch.Tensor:
    """``results`` ``(..., d)`` with each point ``accept`` rejects replaced by the last accepted
    point of the segment from its start (same place in ``starts``, which ``accept`` must
    accept) towards it.

    Example:
        >>> inside = lambda x: x[:, 0] <= 0.5
        >>> out = pull_back(torch.zeros(1, 1, 1), torch.ones(1, 1, 1), inside)
        >>> 0.49 < float(out) <= 0.5
        True
    """
    d = results.shape[-1]
    start = starts.detach().reshape(-1, d).numpy()
    end = results.detach().reshape(-1, d).numpy()
    outside = np.flatnonzero(~accept(end))
    if outside.size == 0:
        return results
    s, e = start[outside], end[outside]
    lo, hi = np.zeros(outside.size), np.ones(outside.size)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = accept(s + mid[:, None] * (e - s))
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    pulled = results.detach().reshape(-1, d).clone()
    pulled[outside] = torch.as_tensor(s + lo[:, None] * (e - s), dtype=results.dtype)
    return pulled.reshape(results.shape)


def _starts(
    acq: AcquisitionFunction,
    seeds: torch.Tensor,
    n: int,
    rng: np.random.Generator,
    start_rule: StartRule,
) -> torch.Tensor:
    """``(min(n, p), 1, d)`` starting points picked from the ``p`` seeds."""
    n = min(n, seeds.shape[0])
    if start_rule == "random":
        picks = rng.choice(seeds.shape[0], size=n, replace=False)
        return seeds[torch.as_tensor(picks)].unsqueeze(1).clone()
    batch = seeds.unsqueeze(1)
    with torch.no_grad():
        values = torch.cat([acq(chunk) for chunk in batch.split(512)])
    starts, _ = initialize_q_batch(batch, values, n)
    return starts.clone()
