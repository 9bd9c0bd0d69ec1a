"""A model hub: one architecture per cost tier, retrained, exported and measured.

After the pipeline's search, ``tiers.macs=[...]`` (or ``tiers.params`` / ``tiers.latency_ms``,
one kind per run) asks for a family of models, one per budget. Each tier's architecture is the
best predicted under that budget (and under the search's own budget): the block model fitted on
the search's evaluations (:func:`evaluate.search_results.fit_search_model`, what ``pick=model``
fits) and the exact programme (:meth:`evaluate.blocks.SpaceBlocks.solve`); with
``tiers.pick=measured`` it is instead the search's evaluated architecture of highest inherited
accuracy under the budget. The pipeline retrains and exports each (:mod:`commands.pipeline`),
then this module measures each export's latency where the latency table was measured (device,
runtime, batch size and threads of its header; without a table: torch on the CPU, batch 1,
``num_threads``) and writes ``hub/hub.json``, ``hub/hub.md`` and ``hub/hub.png``
(:mod:`evaluate.hub_report`).

A tier whose measured median latency is over its latency budget is flagged, and the next
architecture down is offered: the best predicted under the budget scaled by the tier's
predicted / measured latency (the predictor's error on this network taken into account).

Example:
    >>> tiers = tiers_from_plain({"macs": [300e3, 600e3]}, {"budget": {"macs": 600e3}})
    >>> tiers.kind, tiers.budgets
    ('macs', (300000.0, 600000.0))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamoo_nas.evaluate.blocks import CostFn, SpaceBlocks
from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.latency import LatencyStats, measure_latency_ms
from lamoo_nas.evaluate.search_results import ScoredArch, SearchResult
from lamoo_nas.runtime.schema import check_keys, coerce
from lamoo_nas.search.blockmodel import BlockModel
from lamoo_nas.search.errors import ProgrammeError
from lamoo_nas.supernet import ArchConfig, CostModel
from lamoo_nas.supernet.errors import ConfigError

if TYPE_CHECKING:
    from lamoo_nas.evaluate.latency_table import LatencyPredictor

TIER_KINDS = ("macs", "params", "latency_ms")
"""What a tier bounds: exact MACs, exact params, or predicted latency (ms, needs a table)."""
TIER_PICKS = ("model", "measured")
UNIT = {"macs": "MACs", "params": "params", "latency_ms": "ms"}


@dataclass(frozen=True)
class TierSettings:
    """The ``tiers`` section: one ``kind`` of bound and its ``budgets``, strictly increasing;
    ``pick`` is ``model`` (block model + exact programme) or ``measured`` (the search's best
    evaluated architecture under the budget); ``calibrate`` whole networks correct a latency
    table's sums before picking (:func:`calibrate`; 0 keeps the plain sums)."""

    kind: str
    budgets: tuple[float, ...]
    pick: str = "model"
    calibrate: int = 10  # whole networks that correct the latency table's sums (0: none)


def tiers_from_plain(
    section: Mapping[str, Any] | None, search: Mapping[str, Any]
) -> TierSettings | None:
    """The typed tiers of the pipeline's ``tiers`` section (None when no kind is set), checked
    against the search stage's settings ``search``: one kind, positive budgets in increasing
    order without duplicates, a latency tier only with ``search.latency_table``, no tier above
    the search's own bound of its kind. Each problem is one :class:`ConfigError` line.

    Example:
        >>> tiers_from_plain({"macs": [6e5, 3e5]}, {})
        Traceback (most recent call last):
        ...
        supernet.errors.ConfigError: tiers.macs must be in increasing order, got [600000.0, 300000.0]; write [300000.0, 600000.0]
    """  # noqa: E501
    section = dict(section or {})
    check_keys(section, [*TIER_KINDS, "pick", "calibrate"], "tiers")
    pick = coerce(section.pop("pick", "model"), str, "tiers.pick")
    calibrate = coerce(section.pop("calibrate", TierSettings.calibrate), int, "tiers.calibrate")
    if calibrate == 1 or calibrate < 0:
        raise ConfigError(
            f"tiers.calibrate is {calibrate}; 0 (the table's plain sums) or at least 2 networks"
        )
    if pick not in TIER_PICKS:
        raise ConfigError(f"tiers.pick is {pick!r}; allowed: {list(TIER_PICKS)}")
    given = [kind for kind in TIER_KINDS if section.get(kind) not in (None, [])]
    if not given:
        return None
    if len(given) > 1:
        raise ConfigError(
            f"tiers: one kind per run, got {' and '.join(given)}; keep one (e.g. "
            f"tiers.{given[1]}=null)"
        )
    kind = given[0]
    budgets = tuple(float(b) for b in coerce(section[kind], list[float], f"tiers.{kind}"))
    for budget in budgets:
        if not budget > 0:
            raise ConfigError(f"tiers.{kind} has {budget:g}; every tier is a positive budget")
    twice = sorted({b for b in budgets if budgets.count(b) > 1})
    if twice:
        raise ConfigError(f"tiers.{kind} has {twice[0]:g} twice; each tier needs its own budget")
    if list(budgets) != sorted(budgets):
        raise ConfigError(
            f"tiers.{kind} must be in increasing order, got {list(budgets)}; write "
            f"{sorted(budgets)}"
        )
    if kind == "latency_ms" and not search.get("latency_table"):
        raise ConfigError(
            "tiers.latency_ms needs a latency table: build one with nas-latency-table and give "
            "search.latency_table=PATH"
        )
    bound = (search.get("budget") or {}).get(kind)
    if bound is not None and budgets[-1] > float(bound):
        raise ConfigError(
            f"tiers.{kind}: tier {budgets[-1]:g} is above the search's budget "
            f"search.budget.{kind}={float(bound):g}, where the search evaluated nothing; raise "
            f"search.budget.{kind} to at least {budgets[-1]:g} or drop the tier"
        )
    return TierSettings(kind, budgets, pick, calibrate)


@dataclass(frozen=True)
class TierPick:
    """The architecture chosen for one tier, before retraining."""

    tier: int
    budget: float
    arch: ArchConfig
    predicted_accuracy: float | None  # the block model's (inherited-accuracy scale)
    macs: int
    params: int
    predicted_latency_ms: float | None
    search_best: ScoredArch | None  # the search's best evaluated arch under the budget


class TierPicker:
    """Picks tiers over a search's result: its block model and the exact programme under each
    tier's bound and ``search_budget`` (default the search's: MACs, params and, with a
    predictor, latency). ``latency`` is also what the rows' ``latency_ms`` were predicted by
    (a corrected predictor comes with rows re-predicted and the search's latency bound left
    out, since that bound was in the table's plain sums)."""

    def __init__(
        self,
        result: SearchResult,
        cost_model: CostModel,
        model: BlockModel,
        latency: CostFn | None = None,
        search_budget: Budget | None = None,
    ) -> None:
        self.result, self.cost_model, self.model, self.latency = result, cost_model, model, latency
        oracles: list[CostFn] = [
            lambda a: float(cost_model(a).macs),
            lambda a: float(cost_model(a).params),
        ]
        if latency is not None:
            oracles.append(latency)
        self.blocks = SpaceBlocks(result.space, oracles)
        self.search_budget = search_budget or Budget(**result.summary["budget"])

    def budgets(self, kind: str, bound: float) -> list[float | None]:
        """Per oracle: the search's bound, with ``kind``'s tightened to ``bound``."""
        budget = self.search_budget
        out: list[float | None] = [budget.macs, budget.params]
        if self.latency is not None:
            out.append(budget.latency_ms)
        j = TIER_KINDS.index(kind)
        current = out[j]
        out[j] = bound if current is None else min(bound, current)
        return out

    def check_cheapest(self, tiers: TierSettings) -> None:
        """A :class:`ConfigError` naming the cheapest architecture when the first tier is below
        it (nothing in the space fits)."""
        j = TIER_KINDS.index(tiers.kind)
        least = self.blocks.cheapest(j)
        if tiers.budgets[0] >= least:
            return
        unbounded: list[float | None] = [None] * len(self.blocks.oracles)
        unbounded[j] = least * (1 + 1e-9) + 1e-12
        cheapest = self.blocks.solve(self.model, unbounded, 1)[0].arch
        raise ConfigError(
            f"tiers.{tiers.kind}: tier {tiers.budgets[0]:g} is below the cheapest architecture "
            f"of space {self.result.space.name!r}, {cheapest} at {least:g} {UNIT[tiers.kind]}; "
            f"raise the tier to at least {least:g}"
        )

    def pick(self, tiers: TierSettings) -> list[TierPick]:
        """One :class:`TierPick` per tier, lowest first."""
        self.check_cheapest(tiers)
        picks = []
        for i, bound in enumerate(tiers.budgets, start=1):
            best_row = self._search_best(tiers.kind, bound)
            if tiers.pick == "measured":
                if best_row is None:
                    raise ConfigError(
                        f"tiers.{tiers.kind}: the search evaluated no architecture under tier "
                        f"{bound:g}; use tiers.pick=model or search more (search.num_samples)"
                    )
                arch, predicted = best_row.arch, None
            else:
                arch, predicted = self._best_predicted(tiers.kind, bound)
            cost = self.cost_model(arch)
            ms = self.latency(arch) if self.latency is not None else None
            picks.append(TierPick(i, bound, arch, predicted, cost.macs, cost.params, ms, best_row))
        return picks

    def offer_below(self, pick: TierPick, measured_ms: float) -> TierPick | None:
        """For a tier that missed its latency budget: the best predicted architecture under the
        budget scaled by predicted / measured (None without a predictor or when none fits)."""
        if self.latency is None or pick.predicted_latency_ms is None:
            return None
        scaled = pick.budget * pick.predicted_latency_ms / measured_ms
        try:
            found = self.blocks.solve(
                self.model, self.budgets("latency_ms", scaled), 1, exclude=[pick.arch]
            )
        except ProgrammeError:
            return None
        if not found:
            return None
        arch = found[0].arch
        cost = self.cost_model(arch)
        return TierPick(pick.tier, scaled, arch, found[0].predicted, cost.macs, cost.params,
                        self.latency(arch), None)  # fmt: skip

    def _best_predicted(self, kind: str, bound: float) -> tuple[ArchConfig, float]:
        try:
            found = self.blocks.solve(self.model, self.budgets(kind, bound), 1)
        except ProgrammeError as error:
            raise ConfigError(
                f"tiers.{kind}: no architecture fits tier {bound:g} together with the search's "
                f"budget ({self.search_budget.describe()}): {error}"
            ) from error
        return found[0].arch, found[0].predicted

    def _search_best(self, kind: str, bound: float) -> ScoredArch | None:
        def cost(row: ScoredArch) -> float | None:
            return {"macs": row.macs, "params": row.params, "latency_ms": row.latency_ms}[kind]

        inside = [r for r in self.result.rows if (c := cost(r)) is not None and c <= bound]
        return max(inside, key=lambda r: (r.accuracy, -r.macs), default=None)


@dataclass(frozen=True)
class MeasureSettings:
    """Where the hub's latencies are measured: the latency table's device, runtime, batch
    size and threads (or torch on the CPU), with ``warmup`` untimed and ``repeats`` timed runs.
    ``device_name`` is the table header's description (e.g. ``cpu: <CPU model>``)."""

    device: str
    device_name: str
    runtime: str
    batch_size: int
    num_threads: int
    warmup: int
    repeats: int

    @classmethod
    def of_table(cls, header: Mapping[str, Any], warmup: int, repeats: int) -> MeasureSettings:
        """Those of a latency table's header; a CUDA table needs CUDA here."""
        name = str(header["device"])
        device = "cuda" if name.startswith("cuda") else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"the latency table was measured on {name}, this machine has no CUDA; run the "
                "hub where the table was measured, or build a table here (nas-latency-table)"
            )
        return cls(device, name, str(header["runtime"]), int(header["batch_size"]),
                   int(header["num_threads"]), warmup, repeats)  # fmt: skip

    @classmethod
    def cpu(cls, num_threads: int, warmup: int, repeats: int) -> MeasureSettings:
        """Torch on this machine's CPU, batch 1."""
        from lamoo_nas.evaluate.latency_table import device_description

        return cls("cpu", device_description("cpu", "torch"), "torch", 1, num_threads, warmup,
                   repeats)  # fmt: skip

    def describe(self) -> str:
        return (
            f"{self.device_name}, runtime {self.runtime}, batch {self.batch_size}, "
            f"{self.num_threads} thread(s), median and p90 of {self.repeats} runs after "
            f"{self.warmup} warm-up runs"
        )


def measure_export(export_dir: Path, settings: MeasureSettings) -> LatencyStats:
    """Latency of the exported model in ``export_dir`` as ``settings`` say."""
    from lamoo_nas.evaluate.load import load_exported

    exported = load_exported(export_dir)
    return measure_model(exported.model, exported.arch.resolution, settings)


def measure_model(
    model: torch.nn.Module, resolution: int, settings: MeasureSettings
) -> LatencyStats:
    """Latency of ``model`` on ``(batch, 3, resolution, resolution)`` inputs as ``settings``
    say (torch, or an ONNX Runtime session of the model)."""
    from lamoo_nas.evaluate.latency_table import measure_onnx_latency_ms

    shape = (settings.batch_size, 3, resolution, resolution)
    with _threads(settings.num_threads):
        if settings.runtime == "onnxruntime":
            return measure_onnx_latency_ms(
                model, shape, settings.num_threads, settings.warmup, settings.repeats
            )
        return measure_latency_ms(model, shape, settings.device, settings.warmup, settings.repeats)


def calibrate(
    predictor: LatencyPredictor, settings: MeasureSettings, count: int, seed: int
) -> LatencyPredictor:
    """The predictor corrected to whole networks: ``count`` architectures drawn uniformly from
    the space (``seed``), built with random weights, measured as ``settings`` say, and
    :meth:`~evaluate.latency_table.LatencyPredictor.fit_correction` fitted on them (a block
    timed alone runs faster than inside a network, so the plain table sum runs low)."""
    from lamoo_nas.supernet.static import build_static

    space = predictor.space
    rng = np.random.default_rng(seed)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(count)))
    generator_state = torch.random.get_rng_state()
    measured = []
    try:
        torch.manual_seed(seed)  # random weights only; the caller's state is restored below
        for arch in archs:
            net = build_static(space, arch, predictor.num_classes).eval()
            measured.append((arch, measure_model(net, arch.resolution, settings).median_ms))
    finally:
        torch.random.set_rng_state(generator_state)
    return predictor.fit_correction(measured)


@contextlib.contextmanager
def _threads(num_threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def tier_row(
    pick: TierPick,
    kind: str,
    metrics: Mapping[str, Any],
    stats: LatencyStats,
    export: str,
    offer: Callable[[TierPick, float], TierPick | None],
    arch_json: Callable[[ArchConfig], Any],
) -> dict[str, Any]:
    """One tier of ``hub.json``: what was picked, predicted, measured and shipped; a latency
    tier over its budget has ``meets_budget`` false and an ``offer``."""
    meets = stats.median_ms <= pick.budget if kind == "latency_ms" else True
    below = None if meets else offer(pick, stats.median_ms)
    return {
        "tier": pick.tier,
        "budget": pick.budget,
        **_pick_fields(pick, arch_json),
        "latency_ms": {"median": stats.median_ms, "p90": stats.p90_ms},
        "test_top1": metrics.get("top1"),
        "export": export,
        "meets_budget": meets,
        "offer": None if below is None else _pick_json(below, arch_json),
        "search_best": None if pick.search_best is None else {
            "arch_str": str(pick.search_best.arch),
            "inherited_accuracy": pick.search_best.accuracy,
            "macs": pick.search_best.macs,
            "params": pick.search_best.params,
            "predicted_latency_ms": pick.search_best.latency_ms,
        },
    }  # fmt: skip


def _pick_fields(pick: TierPick, arch_json: Callable[[ArchConfig], Any]) -> dict[str, Any]:
    """What a pick is, as ``hub.json`` writes it for a tier and for an offer."""
    return {
        "arch": arch_json(pick.arch),
        "arch_str": str(pick.arch),
        "predicted_accuracy": pick.predicted_accuracy,
        "macs": pick.macs,
        "params": pick.params,
        "predicted_latency_ms": pick.predicted_latency_ms,
    }


def _pick_json(pick: TierPick, arch_json: Callable[[ArchConfig], Any]) -> dict[str, Any]:
    return {**_pick_fields(pick, arch_json), "under": pick.budget}
