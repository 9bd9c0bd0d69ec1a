"""LaMOO: pick a promising learned region by UCB, then propose inside it with an inner sampler.

See LAMOO.md. Each ``ask`` rebuilds the tree (:mod:`search.lamoo.tree`) from the feasible
samples, selects a root-to-leaf path, and asks the inner sampler (``random``, ``evolution`` or
``qehvi``) for points that every SVM on the path accepts. When the region yields too few fresh
points within bounded tries, the deepest cut is dropped (relaxed) and ``last_note`` says so.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from botorch.models.model import Model

from search.codec import SpaceCodec
from search.errors import UnknownStrategyError
from search.lamoo.tree import Cut, Node, TreeOptions, build_tree, region_accepts, select_path
from search.nsga2 import NSGA2Options, nsga2_offspring
from search.pareto import non_dominated_mask
from search.qehvi import QEHVIOptions, QEHVISelector
from search.strategy import Accept, BaseStrategy, KnownObjectives

A = TypeVar("A", bound=Hashable)
SAMPLERS = ("random", "evolution", "qehvi")
SELECT_RULES = {"leaf": "leaf", "path": "path", "mcts": "path"}
Sampler = Literal["random", "evolution", "qehvi"]


@dataclass(frozen=True)
class LaMOOOptions:
    """LaMOO hyperparameters.

    Attributes:
        sampler: inner optimiser, one of ``SAMPLERS``.
        select: ``leaf`` (best-UCB leaf, default) or ``path`` (alias ``mcts``: greedy descent).
        cp: UCB exploration constant; None means ``0.1 *`` the current total hypervolume.
        tree: split hyperparameters (``split_min``, ``max_nodes``, kernel).
        rejection_rounds: bounded rounds of random draws filtered by the region.
        growth_rounds: bounded rounds of mutations of the region's samples, filtered too.
        nsga2: options of the ``evolution`` sampler.
        qehvi: options of the ``qehvi`` sampler (pool drawn inside the region).
    """

    sampler: Sampler = "random"
    select: str = "leaf"
    cp: float | None = None
    tree: TreeOptions = field(default_factory=TreeOptions)
    rejection_rounds: int = 20
    growth_rounds: int = 20
    nsga2: NSGA2Options = field(default_factory=NSGA2Options)
    qehvi: QEHVIOptions = field(default_factory=QEHVIOptions)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UnknownStrategyError(f"sampler {self.sampler!r} is not one of {SAMPLERS}")
        if self.select not in SELECT_RULES:
            raise UnknownStrategyError(
                f"select {self.select!r} is not one of {tuple(SELECT_RULES)}"
            )


class LaMOOStrategy(BaseStrategy[A]):
    """LaMOO meta-optimiser.

    Its ``qehvi`` sampler draws a candidate pool inside the selected region and picks from it
    with a :class:`~search.qehvi.QEHVISelector` (``self.selector``), the same selection step
    as the plain qEHVI strategy. Attributes set by each ``ask`` (for tests and diagnostics):
    ``last_tree`` (list of :class:`~search.lamoo.tree.Node`), ``last_path`` (root-to-leaf node
    indices), ``last_relaxed_levels`` and, for the ``qehvi`` sampler, ``last_model``.

    Example:
        >>> from search.codec import BoxCodec
        >>> s = LaMOOStrategy(BoxCodec([0.0] * 2, [1.0] * 2), ref_point=[0.0, 0.0], seed=0)
        >>> len(s.ask(2))
        2
    """

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        known_objectives: KnownObjectives[A] | None = None,
        options: LaMOOOptions | None = None,
    ) -> None:
        super().__init__(codec, ref_point, seed, num_init)
        self.lamoo = options or LaMOOOptions()
        self.known_objectives = known_objectives
        self.name = f"lamoo-{self.lamoo.sampler}"
        self.selector: QEHVISelector[A] = QEHVISelector(
            codec, self.ref_point, known_objectives, self.lamoo.qehvi.max_batch_size
        )
        self.last_tree: list[Node] = []
        self.last_path: list[int] = []
        self.last_relaxed_levels = 0

    @property
    def last_model(self) -> Model | None:
        """The model behind the last ``qehvi``-sampler proposal (None until one was fitted)."""
        return self.selector.last_model

    def _state_settings(self) -> dict[str, Any]:
        known = self.known_objectives.columns if self.known_objectives else ()
        return {**super()._state_settings(), "lamoo": asdict(self.lamoo), "known": list(known)}

    def _propose(self, q: int) -> list[A]:
        archs, x, y = self._feasible_data()
        nodes = build_tree(x, y, self.ref_point, self.lamoo.tree, self.lamoo.cp)
        path = select_path(nodes, SELECT_RULES[self.lamoo.select], self._rng)  # type: ignore[arg-type]
        self.last_tree, self.last_path = nodes, path
        sampler = self.lamoo.sampler
        if sampler == "evolution":
            out = self._evolve_in_region(nodes, path, q, archs, y)
        elif sampler == "qehvi":
            pool_size = self.lamoo.qehvi.pool_size
            pool = self._sample_region(nodes, path, pool_size, q, archs, y, 0.5)
            out = self.selector.select(pool, q, archs, x, y, self._rng)
        else:
            out = self._sample_region(nodes, path, q, q, archs, y, 0.0)
        leaf = nodes[path[-1]]
        self._last_note = (
            f"{self.name}: node {leaf.index} (n={leaf.samples.size}, depth {len(path) - 1}, "
            f"{len(nodes)} nodes), relaxed {self.last_relaxed_levels} level(s)"
        )
        return out

    def _sample_region(
        self,
        nodes: list[Node],
        path: list[int],
        n: int,
        min_needed: int,
        archs: list[A],
        y: np.ndarray,
        mutation_fraction: float,
    ) -> list[A]:
        """Up to ``n`` fresh feasible points inside the path's region: random draws plus
        mutations of the region's Pareto samples, then growth around all its samples; relax the
        deepest cut while fewer than ``min_needed`` were found (bounded by the depth)."""
        found: list[A] = []
        depth = len(path) - 1
        for keep in range(depth, -1, -1):
            cuts = nodes[path[keep]].cuts

            def accept(x: np.ndarray, cuts: tuple[Cut, ...] = cuts) -> np.ndarray:
                return region_accepts(cuts, x)

            idx = nodes[path[keep]].samples
            members = [archs[i] for i in idx]
            pareto = [a for a, ok in zip(members, non_dominated_mask(y[idx])) if ok]
            found += self._candidate_pool_in(
                n - len(found), pareto, mutation_fraction, accept, found
            )
            if len(found) < n:
                found += self._grow(members, n - len(found), accept, found)
            self.last_relaxed_levels = depth - keep
            if len(found) >= min_needed:
                break
        return found[:n]

    def _candidate_pool_in(
        self, n: int, parents: list[A], fraction: float, accept: Accept, exclude: list[A]
    ) -> list[A]:
        if n <= 0:
            return []
        pool = self._candidate_pool(n, parents, fraction, accept, self.lamoo.rejection_rounds)
        excluded = set(exclude)
        return [a for a in pool if a not in excluded]

    def _grow(self, members: list[A], n: int, accept: Accept, exclude: list[A]) -> list[A]:
        """Mutations of ``members`` accepted by the region, bounded by ``growth_rounds``."""
        grown: list[A] = []
        if not members:
            return grown
        prob = 1.0 / self._codec.dim
        for _ in range(self.lamoo.growth_rounds):
            picks = self._rng.integers(0, len(members), size=max(4 * n, 16))
            mutants = [self._codec.mutate(members[i], self._rng, prob) for i in picks]
            inside = accept(self._codec.encode(mutants))
            grown += self._fresh([a for a, ok in zip(mutants, inside) if ok], [*exclude, *grown])
            if len(grown) >= n:
                break
        return grown[:n]

    def _evolve_in_region(
        self, nodes: list[Node], path: list[int], q: int, archs: list[A], y: np.ndarray
    ) -> list[A]:
        leaf = nodes[path[-1]]
        parents = [archs[i] for i in leaf.samples]

        def keep(batch: list[A], exclude: list[A]) -> list[A]:
            fresh = self._fresh(batch, exclude)
            if not fresh:
                return fresh
            inside = region_accepts(leaf.cuts, self._codec.encode(fresh))
            return [a for a, ok in zip(fresh, inside) if ok]

        children = nsga2_offspring(
            self._codec, parents, y[leaf.samples], q, self._rng, keep, self.lamoo.nsga2
        )
        self.last_relaxed_levels = 0
        if len(children) < q:  # fall back on random points in the region (relaxing if needed)
            missing = q - len(children)
            rest = self._sample_region(nodes, path, missing, missing, archs, y, 0.0)
            taken = set(children)
            children += [a for a in rest if a not in taken]
        return children[:q]
