"""A TuRBO-style trust region for LaMOO's ``trust`` inner sampler.

LA-MCTS, which LaMOO builds on, runs a trust-region local optimiser inside the selected region
in high dimensions. Here the trust region is a box in the codec's unit-cube encoding, centred on
the best sample of the selected leaf (by :func:`search.population.best_rows`), of side
``length``: it doubles after ``success_tolerance`` batches in a row that raised the hypervolume
of everything told, halves after ``failure_tolerance`` batches in a row that did not, and starts
again at ``length_init`` once it falls below ``length_min``. Candidates perturb the centre
inside the box, each coordinate with probability ``min(1, perturb_dims / d)`` (at least one),
and are kept when the region's SVMs accept them; the first ``q`` fresh ones are proposed, or
(``pick="gp"``) the best ``q`` of them by qLogNEHVI, as TuRBO picks with its GP.

Example:
    >>> region = TrustRegion(TrustRegionOptions())
    >>> region.observe(hypervolume_now=1.0)  # the first batch has nothing to compare with
    >>> region.proposed(1.0, batch_size=5, dim=30)
    >>> region.observe(hypervolume_now=1.0)  # no gain: one failure
    >>> region.failures, region.length
    (1, 0.8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lamoo_nas.search.errors import InvalidOptionError, StrategyStateError, UnknownStrategyError

PICKS = ("random", "gp")


@dataclass(frozen=True)
class TrustRegionOptions:
    """Trust-region hyperparameters (TuRBO's defaults, in unit-cube units).

    Attributes:
        length_init: side of a new box.
        length_min: below this the box starts again at ``length_init`` (a restart).
        length_max: the box never grows beyond this.
        success_tolerance: successes in a row that double the side.
        failure_tolerance: failures in a row that halve it; None: ``max(4, ceil(d / q))``
            (TuRBO's rule for ``d`` dimensions and batches of ``q``).
        perturb_dims: expected number of coordinates a candidate changes (TuRBO: 20).
        num_candidates: candidates drawn per round (bounded rounds, then the region sampler).
        min_gain: a batch is a success when it raised the hypervolume by more than this
            fraction (TuRBO's 1e-3 relative improvement).
        pick: how the batch is chosen among the candidates (one of ``PICKS``): ``random``
            (the first fresh ones) or ``gp`` (qLogNEHVI over a pool of up to the LaMOO
            options' ``qehvi.pool_size`` candidates, with the ``qehvi`` sampler's selector).
    """

    length_init: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    success_tolerance: int = 3
    failure_tolerance: int | None = None
    perturb_dims: float = 20.0
    num_candidates: int = 256
    min_gain: float = 1e-3
    pick: Literal["random", "gp"] = "random"

    def __post_init__(self) -> None:
        if self.pick not in PICKS:
            raise UnknownStrategyError(f"trust.pick {self.pick!r} is not one of {PICKS}")
        if not 0 < self.length_min < self.length_init <= self.length_max:
            raise InvalidOptionError(
                f"need 0 < length_min < length_init <= length_max, got {self.length_min}, "
                f"{self.length_init}, {self.length_max}"
            )
        tolerances = (self.success_tolerance, self.failure_tolerance or 1, self.num_candidates)
        if min(tolerances) < 1 or self.perturb_dims <= 0:
            raise InvalidOptionError(
                "success_tolerance, failure_tolerance and num_candidates must be >= 1 and "
                f"perturb_dims > 0, got {self}"
            )


class TrustRegion:
    """The trust region's state: side ``length``, the success/failure streaks, and the
    hypervolume when the last batch was proposed (None: nothing proposed yet)."""

    def __init__(self, options: TrustRegionOptions) -> None:
        self.options = options
        self.length = options.length_init
        self.successes = 0
        self.failures = 0
        self.restarts = 0
        self.hypervolume_before: float | None = None
        self.failure_tolerance = options.failure_tolerance or 4

    def proposed(self, hypervolume_now: float, batch_size: int, dim: int) -> None:
        """Remember the hypervolume before a batch (and fix the failure tolerance)."""
        self.hypervolume_before = hypervolume_now
        if self.options.failure_tolerance is None:
            self.failure_tolerance = max(4, math.ceil(dim / batch_size))

    def observe(self, hypervolume_now: float) -> None:
        """Count the last batch a success when it raised the hypervolume; resize the box."""
        if self.hypervolume_before is None:
            return
        gain = hypervolume_now - self.hypervolume_before
        gained = gain > self.options.min_gain * max(abs(self.hypervolume_before), 1e-12)
        self.hypervolume_before = None
        self.successes, self.failures = (
            (self.successes + 1, 0) if gained else (0, self.failures + 1)
        )
        if self.successes >= self.options.success_tolerance:
            self.length, self.successes = min(2.0 * self.length, self.options.length_max), 0
        elif self.failures >= self.failure_tolerance:
            self.length, self.failures = self.length / 2.0, 0
        if self.length < self.options.length_min:
            self.length, self.restarts = self.options.length_init, self.restarts + 1

    def candidates(self, center: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(num_candidates, d)`` points in the box around ``center`` ``(d,)``, clipped to
        the unit cube; each changes a random subset of coordinates (at least one)."""
        dim = center.shape[0]
        lower = np.clip(center - self.length / 2.0, 0.0, 1.0)
        upper = np.clip(center + self.length / 2.0, 0.0, 1.0)
        n = self.options.num_candidates
        moved = lower + rng.random((n, dim)) * (upper - lower)
        mask = rng.random((n, dim)) < min(1.0, self.options.perturb_dims / dim)
        mask[np.arange(n), rng.integers(0, dim, size=n)] = True
        return np.where(mask, moved, center[None, :])

    def state(self) -> dict[str, Any]:
        """Plain JSON data for :meth:`load`."""
        return {
            "length": self.length,
            "successes": self.successes,
            "failures": self.failures,
            "restarts": self.restarts,
            "hypervolume_before": self.hypervolume_before,
            "failure_tolerance": self.failure_tolerance,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state`."""
        try:
            self.length = float(state["length"])
            self.successes, self.failures = int(state["successes"]), int(state["failures"])
            self.restarts = int(state["restarts"])
            before = state["hypervolume_before"]
            self.hypervolume_before = None if before is None else float(before)
            self.failure_tolerance = int(state["failure_tolerance"])
        except (KeyError, TypeError, ValueError) as error:
            raise StrategyStateError(
                f"saved trust-region state is malformed ({error!r}); save it with state_dict()"
            ) from error
