"""LaMOO: pick a promising learned region by UCB, then propose inside it with an inner sampler.

See the docs page concepts/lamoo.md. Each ``ask`` rebuilds the tree (:mod:`search.lamoo.tree`) from
the feasible samples, selects a root-to-leaf path, and asks the inner sampler (``random``,
``evolution`` or ``qehvi``) for points that every SVM on the path accepts. When the region yields
too few fresh points within bounded tries, the deepest cut is dropped (relaxed) and ``last_note``
says so.

The ``cmaes`` sampler keeps persistent CMA-ES runs (:mod:`search.cma_es`). The tree is rebuilt
at every ask, so a run belongs to a region by where it is: the selected leaf continues the
most advanced run whose mean its region accepts (the run that lives there), else a new run
starts at the mean of the leaf's best samples with their spread as step size. Draws are kept
inside the region; a run that cannot place points there any more, or whose stopping rules
fired, is replaced by a new one from the leaf's samples. A run gets one batch per visit, so its
generation (``cmaes.population_size`` None) is the library's default rounded *down* to a
multiple of the batch (at least one batch: 5 for d <= 7 and q = 5, 10 at d = 30): it is told
after that many visits. At most ``max_runs`` runs are kept (the least recently used goes). The runs
are part of ``state_dict``.

The ``blockmodel`` sampler draws candidates in the region and keeps those the block model
(:mod:`search.blockmodel`, fitted on every told sample) predicts best: the partition chooses
the region, the model chooses inside it (a space made of blocks only).

The ``trust`` sampler proposes inside a TuRBO-style trust region (:mod:`search.lamoo.trust`)
around the selected leaf's best sample, intersected with the region; the box grows after
batches that raised the hypervolume and shrinks after batches that did not (its state is part
of ``state_dict``).

The ``qehvi`` sampler, by ``qehvi.acquisition`` (resolved as for the plain qEHVI strategy):

* ``pool``: the best of a discrete candidate pool drawn inside the region (categorical spaces);
* ``continuous`` with ``region_mode="seeded"`` (the LaMOO paper's code): L-BFGS-B multistart
  from seed points drawn inside the region, free to leave it, no check afterwards;
* ``continuous`` with ``region_mode="strict"``: the same, with every result that left the region
  pulled back to the last point of its start-to-result segment inside it.

``model="local"`` fits the GP on the samples of the selected leaf, or of the deepest node on its
path holding at least ``local_min_samples`` (as trust-region BO does), instead of all samples,
and measures the improvement against the front of those samples (see :mod:`search.qehvi`).
Below the minimum everywhere on the path it uses the root, i.e. all samples; ``last_note``
names the node either way.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeVar

import numpy as np
from botorch.models.model import Model

from lamoo_nas.search.blockmodel import fit_block_model
from lamoo_nas.search.cma_es import (
    CMAESOptions,
    CMAESRun,
    default_population_size,
    leaf_sigma,
    start_run,
)
from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import BlockModelError, InvalidOptionError, UnknownStrategyError
from lamoo_nas.search.lamoo.tree import (
    Cut,
    Node,
    TreeOptions,
    build_tree,
    region_accepts,
    select_path,
)
from lamoo_nas.search.lamoo.trust import TrustRegion, TrustRegionOptions
from lamoo_nas.search.mathnas import BlockCodec
from lamoo_nas.search.nsga2 import NSGA2Options, nsga2_offspring
from lamoo_nas.search.pareto import hypervolume, non_dominated_mask
from lamoo_nas.search.population import best_rows, told_lookup
from lamoo_nas.search.qehvi import QEHVIOptions, QEHVISelector, resolve_acquisition
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import Accept, BaseStrategy, KnownObjectives

BLOCKMODEL_POOL = 200
"""Candidates the ``blockmodel`` sampler draws in the region before the model picks."""

A = TypeVar("A", bound=Hashable)
SAMPLERS = ("random", "evolution", "qehvi", "cmaes", "trust", "blockmodel")
SELECT_RULES = {"leaf": "leaf", "path": "path", "mcts": "path"}
REGION_MODES = ("seeded", "strict")
MODELS = ("global", "local")
Sampler = Literal["random", "evolution", "qehvi", "cmaes", "trust", "blockmodel"]


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
        cmaes: options of the ``cmaes`` sampler (persistent CMA-ES runs in the regions).
        max_runs: the most CMA-ES runs the ``cmaes`` sampler keeps.
        trust: options of the ``trust`` sampler (a TuRBO-style box in the region).
        qehvi: options of the ``qehvi`` sampler (pool or continuous seeds drawn inside the
            region; ``qehvi.acquisition`` chooses, see the module docstring).
        region_mode: ``seeded`` or ``strict``, how a continuous ``qehvi`` sampler treats the
            region (one of ``REGION_MODES``).
        model: ``global`` (the GP sees every sample) or ``local`` (the selected region's).
        local_min_samples: the fewest samples a local GP is fitted on: the deepest node on the
            selected path with at least this many (the root, all samples, when none has).
    """

    sampler: Sampler = "random"
    select: str = "leaf"
    cp: float | None = None
    tree: TreeOptions = field(default_factory=TreeOptions)
    rejection_rounds: int = 20
    growth_rounds: int = 20
    nsga2: NSGA2Options = field(default_factory=NSGA2Options)
    cmaes: CMAESOptions = field(default_factory=CMAESOptions)
    max_runs: int = 8
    trust: TrustRegionOptions = field(default_factory=TrustRegionOptions)
    qehvi: QEHVIOptions = field(default_factory=QEHVIOptions)
    region_mode: Literal["seeded", "strict"] = "seeded"
    model: Literal["global", "local"] = "global"
    local_min_samples: int = 20

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UnknownStrategyError(f"sampler {self.sampler!r} is not one of {SAMPLERS}")
        if self.select not in SELECT_RULES:
            raise UnknownStrategyError(
                f"select {self.select!r} is not one of {tuple(SELECT_RULES)}"
            )
        if self.region_mode not in REGION_MODES:
            raise UnknownStrategyError(
                f"region_mode {self.region_mode!r} is not one of {REGION_MODES}"
            )
        if self.model not in MODELS:
            raise UnknownStrategyError(f"model {self.model!r} is not one of {MODELS}")
        if self.max_runs < 1:
            raise InvalidOptionError(f"max_runs must be >= 1, got {self.max_runs}")
        if self.local_min_samples < 2:
            raise InvalidOptionError(
                f"local_min_samples must be >= 2 (a GP needs data), got {self.local_min_samples}"
            )


class LaMOOStrategy(BaseStrategy[A]):
    """LaMOO meta-optimiser.

    Its ``qehvi`` sampler draws a candidate pool (or continuous seeds) inside the selected
    region and selects with a :class:`~search.qehvi.QEHVISelector` (``self.selector``), the
    same selection step as the plain qEHVI strategy; ``acquisition`` is the resolved ``pool``
    or ``continuous``. Attributes set by each ``ask`` (for tests and diagnostics):
    ``last_tree`` (list of :class:`~search.lamoo.tree.Node`), ``last_path`` (root-to-leaf node
    indices), ``last_relaxed_levels`` and, for the ``qehvi`` sampler, ``last_model`` and
    ``last_model_node`` (the node whose samples the GP saw; 0, the root, for a global model).

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
        qehvi = self.lamoo.qehvi
        self.acquisition = resolve_acquisition(qehvi.acquisition, codec, known_objectives)
        self.selector: QEHVISelector[A] = QEHVISelector(
            codec, self.ref_point, known_objectives, qehvi.max_batch_size, qehvi
        )
        self.last_tree: list[Node] = []
        self.last_path: list[int] = []
        self.last_relaxed_levels = 0
        self.last_model_node = 0
        self.leaf_runs: dict[str, CMAESRun] = {}
        self._last_started: str | None = None
        self._last_note_extra = ""
        self.trust_region = TrustRegion(self.lamoo.trust)

    @property
    def last_model(self) -> Model | None:
        """The model behind the last ``qehvi``-sampler proposal (None until one was fitted)."""
        return self.selector.last_model

    def _state_settings(self) -> dict[str, Any]:
        known = self.known_objectives.columns if self.known_objectives else ()
        return {**super()._state_settings(), "lamoo": asdict(self.lamoo), "known": list(known)}

    def state_dict(self) -> dict[str, Any]:
        """The base state plus, for the ``cmaes`` sampler, its CMA-ES runs (``leaf_runs``)."""
        state = super().state_dict()
        if self.leaf_runs:
            state["leaf_runs"] = {key: run.state() for key, run in sorted(self.leaf_runs.items())}
        if self.lamoo.sampler == "trust":
            state["trust_region"] = self.trust_region.state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("leaf_runs", {}) if isinstance(state, dict) else {}
        runs = {key: CMAESRun.from_state(value) for key, value in saved.items()}
        trust = TrustRegion(self.lamoo.trust)
        if isinstance(state, dict) and "trust_region" in state:
            trust.load(state["trust_region"])
        super().load_state_dict(state)
        self.leaf_runs, self.trust_region = runs, trust

    def _propose(self, q: int) -> list[A]:
        archs, x, y = self._feasible_data()
        nodes = build_tree(x, y, self.ref_point, self.lamoo.tree, self.lamoo.cp)
        path = select_path(nodes, SELECT_RULES[self.lamoo.select], self._rng)  # type: ignore[arg-type]
        self.last_tree, self.last_path = nodes, path
        sampler = self.lamoo.sampler
        self._last_started = None
        if sampler == "evolution":
            out = self._evolve_in_region(nodes, path, q, archs, y)
        elif sampler == "qehvi":
            out = self._qehvi_in_region(nodes, path, q, archs, x, y)
        elif sampler == "cmaes":
            out = self._cmaes_in_region(nodes, path, q, archs, x, y)
        elif sampler == "trust":
            out = self._trust_in_region(nodes, path, q, archs, x, y)
        elif sampler == "blockmodel":
            out = self._blockmodel_in_region(nodes, path, q, archs, y)
        else:
            out = self._sample_region(nodes, path, q, q, archs, y, 0.0)
        leaf = nodes[path[-1]]
        self._last_note = (
            f"{self.name}: node {leaf.index} (n={leaf.samples.size}, depth {len(path) - 1}, "
            f"{len(nodes)} nodes), relaxed {self.last_relaxed_levels} level(s)"
        )
        if sampler in ("cmaes", "trust"):
            self._last_note += self._last_note_extra
        if sampler == "qehvi" and self.lamoo.model == "local":
            node = nodes[self.last_model_node]
            self._last_note += f", local GP on node {node.index} (n={node.samples.size})"
        return out

    def _qehvi_in_region(
        self,
        nodes: list[Node],
        path: list[int],
        q: int,
        archs: list[A],
        x: np.ndarray,
        y: np.ndarray,
    ) -> list[A]:
        """The ``qehvi`` sampler: a pool or continuous seeds inside the region, then the
        selector (the GP on every sample, or on the local node's)."""
        options = self.lamoo.qehvi
        fit_on = None
        self.last_model_node = 0
        if self.lamoo.model == "local":
            self.last_model_node = self._local_node(nodes, path)
            fit_on = nodes[self.last_model_node].samples
        if self.acquisition == "pool":
            pool = self._sample_region(nodes, path, options.pool_size, q, archs, y, 0.5)
            return self.selector.select(pool, q, archs, x, y, self._rng, fit_on)
        seeds = self._sample_region(
            nodes, path, options.raw_samples, options.num_restarts, archs, y, 0.5
        )
        accept = None
        if self.lamoo.region_mode == "strict":
            cuts = nodes[path[len(path) - 1 - self.last_relaxed_levels]].cuts

            def accept(x: np.ndarray) -> np.ndarray:
                return region_accepts(cuts, x)

        selector, rng = self.selector, self._rng
        optimised = selector.select_continuous(seeds, q, archs, x, y, rng, fit_on, accept)
        return optimised + seeds  # the seeds fill in should a result repeat a told point

    def _blockmodel_in_region(
        self, nodes: list[Node], path: list[int], q: int, archs: list[A], y: np.ndarray
    ) -> list[A]:
        """The ``blockmodel`` sampler: the partition picks the region, the block model fitted
        on every told sample picks inside it: of ``BLOCKMODEL_POOL`` candidates drawn in the
        region (as the ``random`` sampler draws them, half mutations of its Pareto samples),
        the ``q`` of highest predicted accuracy. Needs a codec made of blocks."""
        pool = self._sample_region(nodes, path, BLOCKMODEL_POOL, q, archs, y, 0.5)
        codec = self._codec
        if not isinstance(codec, BlockCodec):
            raise UnknownStrategyError(
                "the blockmodel sampler needs a space made of blocks (a supernet search space); "
                f"this codec ({type(codec).__name__}) has none: use another sampler"
            )
        known = self.known_objectives.columns if self.known_objectives is not None else ()
        column = next(i for i in range(self.num_objectives) if i not in known)
        try:
            model = fit_block_model(
                codec.decisions, codec.choices(self.archs), self._y[:, column], codec.fingerprint
            )
        except BlockModelError:
            return pool[:q]
        if not pool:
            return pool
        predicted = model.predict(codec.choices(pool))
        return [pool[i] for i in np.argsort(-predicted, kind="stable")[:q]]

    def _local_node(self, nodes: list[Node], path: list[int]) -> int:
        """The deepest node on ``path`` with at least ``local_min_samples`` samples (the root
        when none has)."""
        for index in reversed(path):
            if nodes[index].samples.size >= self.lamoo.local_min_samples:
                return index
        return path[0]

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

    def _cmaes_in_region(
        self,
        nodes: list[Node],
        path: list[int],
        q: int,
        archs: list[A],
        x: np.ndarray,
        y: np.ndarray,
    ) -> list[A]:
        """The ``cmaes`` sampler: the run living in the leaf's region (or a new one), its draws
        kept in the region; a new run when it places too few there; then random points in the
        region (relaxing if needed)."""
        leaf = nodes[path[-1]]
        options = self.lamoo.cmaes
        lookup = told_lookup(archs, y)

        def accept(x: np.ndarray) -> np.ndarray:
            return region_accepts(leaf.cuts, x)

        key = self._resident_run(accept)
        out: list[A] = []
        if leaf.samples.size == 0:  # nothing told yet: random points (in the whole space)
            self._last_note_extra = ", no CMA-ES run (no samples)"
            return self._fill_in_region(nodes, path, out, q, archs, y)
        for attempt in range(2):  # the resident run, then (if short or stopped) a new one
            if key is None or self.leaf_runs[key].stopped or attempt == 1:
                if attempt == 1 and key == self._last_started:
                    break  # the new run was already tried
                key = self._start_leaf_run(x[leaf.samples], y[leaf.samples], q)
            run = self.leaf_runs[key]
            run.last_used = len(archs)
            out += run.propose(
                q - len(out),
                self._codec,
                self._fresh,
                lookup,
                self.ref_point,
                options.max_draws,
                accept,
                out,
            )
            if len(out) >= q:
                break
        self._last_note_extra = f", CMA-ES {key} (generation {run.cma.generation})"
        return self._fill_in_region(nodes, path, out, q, archs, y)

    def _resident_run(self, accept: Accept) -> str | None:
        """The run whose mean the region accepts, most generations first (then oldest)."""
        inside = [
            key
            for key, run in self.leaf_runs.items()
            if not run.stopped and accept(run.mean[None])[0]
        ]
        if not inside:
            return None
        return max(inside, key=lambda k: (self.leaf_runs[k].cma.generation, -int(k[3:])))

    def _start_leaf_run(self, x: np.ndarray, y: np.ndarray, q: int) -> str:
        """A new run from a leaf's samples (``x`` ``(n, d)``, ``y`` ``(n, m)``); the least
        recently used run goes when ``max_runs`` are kept."""
        options = self.lamoo.cmaes
        size = options.population_size or default_population_size(self._codec.dim, q, False)
        run = start_run(x, y, self.ref_point, leaf_sigma(x, options), size, self._rng)
        if len(self.leaf_runs) >= self.lamoo.max_runs:
            oldest = min(self.leaf_runs, key=lambda k: (self.leaf_runs[k].last_used, int(k[3:])))
            del self.leaf_runs[oldest]
        number = 1 + max((int(k[3:]) for k in self.leaf_runs), default=-1)
        key = self._last_started = f"run{number}"
        self.leaf_runs[key] = run
        return key

    def _trust_in_region(
        self,
        nodes: list[Node],
        path: list[int],
        q: int,
        archs: list[A],
        x: np.ndarray,
        y: np.ndarray,
    ) -> list[A]:
        """The ``trust`` sampler: candidates in the trust region around the leaf's best sample
        that the region accepts (bounded rounds; the best ``q`` by qLogNEHVI for
        ``pick="gp"``), then random points in the region."""
        leaf = nodes[path[-1]]
        region = self.trust_region
        hypervolume_now = hypervolume(y, self.ref_point)
        region.observe(hypervolume_now)
        out: list[A] = []
        wanted = self.lamoo.qehvi.pool_size if self.lamoo.trust.pick == "gp" else q
        if leaf.samples.size:
            best = leaf.samples[best_rows(y[leaf.samples], self.ref_point, 1)[0]]
            for _ in range(self.lamoo.rejection_rounds):
                candidates = region.candidates(x[best], self._rng)
                inside = region_accepts(leaf.cuts, candidates)
                fresh = self._fresh(self._codec.decode(candidates[inside]), out)
                out += fresh[: wanted - len(out)]
                if len(out) >= wanted:
                    break
        if self.lamoo.trust.pick == "gp" and len(out) > q:
            out = self.selector.select(out, q, archs, x, y, self._rng)
        region.proposed(hypervolume_now, q, self._codec.dim)
        self._last_note_extra = f", trust region side {region.length:.4g}"
        return self._fill_in_region(nodes, path, out, q, archs, y)

    def _fill_in_region(
        self,
        nodes: list[Node],
        path: list[int],
        out: list[A],
        q: int,
        archs: list[A],
        y: np.ndarray,
    ) -> list[A]:
        """``out`` topped up to ``q`` with random points in the region (relaxing if needed;
        ``out`` is held pending meanwhile, so none of it is drawn again)."""
        self.last_relaxed_levels = 0
        missing = q - len(out)
        if missing <= 0:
            return out[:q]
        held = set(out) - self._pending
        self._pending.update(held)
        try:
            rest = self._sample_region(nodes, path, missing, missing, archs, y, 0.0)
        finally:
            self._pending.difference_update(held)
        return out + rest


def _build(request: StrategyRequest[Any], options: LaMOOOptions) -> LaMOOStrategy[Any]:
    """``lamoo-<sampler>`` is ``lamoo`` with ``sampler=<sampler>``."""
    if request.variant:
        options = replace(options, sampler=request.variant)  # type: ignore[arg-type]
    return LaMOOStrategy(
        request.codec,
        request.ref_point,
        request.seed,
        request.num_init,
        request.known_objectives,
        options,
    )


SPEC = StrategySpec("lamoo", LaMOOOptions, _build, variants=SAMPLERS)
