"""MathNAS as a search strategy: designed evaluations, a block model, the exact programme.

:class:`MathNASStrategy` first proposes a design (``design="single"``: MathNAS's base network of
average cost and every single-decision change of it, around ``num_bases`` bases;
``design="random"``: the shared quasi-random initial design of ``num_init`` points), then at
every ask fits the block model (:mod:`search.blockmodel`) on everything told and proposes the
``q`` best architectures the exact programme finds under the budget that were not evaluated
yet: the predicted optimum and its near-optimal alternatives, and, every ``front_every``-th
proposal, the predicted optimum under a lower rung of a ladder of budgets (the predicted front).
Refitting after each batch lets the measured accuracies of the proposals correct the model.

The codec must describe its space as blocks (:class:`BlockCodec`); the supernet search's
codec does. The design and the programme are deterministic, so the state to resume is the
ladder position alone (plus the base class's).

Example:
    >>> # codec = ArchCodec(space, cost_model, budget)  (evaluate.codec, a BlockCodec)
    >>> # strategy = MathNASStrategy(codec, ref_point=[0.0, -10.0], seed=0)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from lamoo_nas.search.blockmodel import BlockModel, Decision, fit_block_model
from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import BlockModelError, InvalidOptionError, ProgrammeError
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import BaseStrategy

A = TypeVar("A", bound=Hashable)
DESIGNS = ("single", "random")


@runtime_checkable
class BlockCodec(SpaceCodec[A], Protocol[A]):
    """A codec whose space is made of blocks: what MathNAS and ``pick=model`` need.

    * ``decisions`` / ``fingerprint``: the block model's decisions and the space's identity;
    * ``choices(archs)``: ``(n, d)`` value indices;
    * ``designed(num_bases, seed)``: the single-change design around ``num_bases`` bases;
    * ``best_predicted(model, k, budget_scale, exclude)``: the ``k`` architectures of highest
      predicted accuracy within the budget (each bound times ``budget_scale``) other than those
      in ``exclude``, best first.
    """

    @property
    def decisions(self) -> tuple[Decision, ...]: ...

    @property
    def fingerprint(self) -> str: ...

    def choices(self, archs: Sequence[A]) -> np.ndarray: ...

    def designed(self, num_bases: int, seed: int) -> list[A]: ...

    def best_predicted(
        self, model: BlockModel, k: int, budget_scale: float = 1.0, exclude: Sequence[A] = ()
    ) -> list[A]: ...


@dataclass(frozen=True)
class MathNASOptions:
    """``design``: ``single`` (MathNAS's) or ``random`` (the Sobol initial design);
    ``num_bases``: bases of the single-change design; ``front_every``: every this many
    proposals one comes from a lower budget rung (0: never); ``ladder``: the rungs, as
    fractions of the budget, tried in turn."""

    design: str = "random"
    num_bases: int = 1
    front_every: int = 3
    ladder: tuple[float, ...] = (0.8, 0.6, 0.4, 0.9, 0.7, 0.5)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise InvalidOptionError(
                f"mathnas.design must be one of {DESIGNS}, got {self.design!r}"
            )
        if self.num_bases < 1 or self.front_every < 0:
            raise InvalidOptionError(
                f"mathnas.num_bases must be >= 1 and front_every >= 0, got {self.num_bases}, "
                f"{self.front_every}"
            )
        if not self.ladder or not all(0 < f <= 1 for f in self.ladder):
            raise InvalidOptionError(
                f"mathnas.ladder must be fractions in (0, 1], got {self.ladder}"
            )


class MathNASStrategy(BaseStrategy[A]):
    """See the module docstring. The accuracy the block model predicts is the first objective
    not among ``known_columns`` (the exactly known costs)."""

    name = "mathnas"

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        options: MathNASOptions | None = None,
        known_columns: Sequence[int] = (),
    ) -> None:
        if not isinstance(codec, BlockCodec):
            raise InvalidOptionError(
                "strategy mathnas needs a space made of blocks (a supernet search space); this "
                f"codec ({type(codec).__name__}) has none: use another strategy"
            )
        self.options = options or MathNASOptions()
        self._design: list[A] = []
        if self.options.design == "single":
            self._design = codec.designed(self.options.num_bases, seed)
            num_init = max(1, len(self._design))
        super().__init__(codec, ref_point, seed, num_init)
        self._blocks: BlockCodec[A] = codec
        self._rung = 0
        self.model: BlockModel | None = None
        self._accuracy = next(i for i in range(self.num_objectives) if i not in known_columns)

    def _get_initial_design(self) -> list[A]:
        if self.options.design == "random":
            return super()._get_initial_design()
        if self._initial_design is None:
            design = []
            if self._design:
                feasible = self._codec.is_feasible(self._design)
                design = [a for a, ok in zip(self._design, feasible) if ok]
            self._initial_design = design or self._codec.sample(np.random.default_rng(self.seed), 1)
        return self._initial_design

    def fit(self) -> BlockModel:
        """The block model of everything told so far (accuracy = objective 0)."""
        return fit_block_model(
            self._blocks.decisions,
            self._blocks.choices(self.archs),
            self._y[:, self._accuracy],
            self._blocks.fingerprint,
        )

    def _propose(self, q: int) -> list[A]:
        try:
            self.model = self.fit()
        except BlockModelError as error:
            self._last_note = f"random (no block model yet: {error})"
            return self._random_fresh(q)
        batch: list[A] = []
        every = self.options.front_every
        while len(batch) < q:
            position = len(self._seen) + len(self._pending) + len(batch)
            if every and position % every == every - 1:
                scale = self.options.ladder[self._rung % len(self.options.ladder)]
                self._rung += 1
            else:
                scale = 1.0
            found = self._next_best(self.model, scale, batch)
            if found is None and scale != 1.0:
                found = self._next_best(self.model, 1.0, batch)
            if found is None:
                break
            batch.append(found)
        notes = f"block model of {self.model.num_samples} (alpha {self.model.alpha:g})"
        if len(batch) < q:
            batch += self._random_fresh(q - len(batch), exclude=batch)
            notes += ", topped up at random"
        self._last_note = notes
        return batch

    def _next_best(self, model: BlockModel, scale: float, taken: Sequence[A]) -> A | None:
        """The best predicted architecture under the scaled budget not yet seen or taken: the
        programme excludes them itself, so one solve per proposal."""
        exclude = [*self._seen, *self._pending, *taken]
        try:
            found = self._blocks.best_predicted(model, 1, scale, exclude)
        except ProgrammeError:
            return None
        fresh = self._fresh(found, exclude=taken)
        return fresh[0] if fresh else None

    def _state_settings(self) -> dict[str, Any]:
        return {**super()._state_settings(), "mathnas": asdict(self.options)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rung": self._rung}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        rung = state.get("rung", 0)
        if isinstance(rung, bool) or not isinstance(rung, int) or rung < 0:
            raise InvalidOptionError(f"saved mathnas state has rung {rung!r}, not an integer >= 0")
        self._rung = rung


def _build(request: StrategyRequest[Any], options: MathNASOptions) -> MathNASStrategy[Any]:
    """Columns known exactly are the costs the programme bounds."""
    known = request.known_objectives.columns if request.known_objectives is not None else ()
    return MathNASStrategy(
        request.codec, request.ref_point, request.seed, request.num_init, options, known
    )


SPEC = StrategySpec("mathnas", MathNASOptions, _build)
