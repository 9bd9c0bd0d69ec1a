"""Constrained multi-objective search over a trained supernet.

Accuracy is inherited-weight validation accuracy (:mod:`evaluate.evaluator`); MACs and params
come from the exact analytic cost model and are handed to the strategy as known objectives,
so only accuracy is ever modelled. Units are those of :mod:`evaluate.search_settings`; the
outputs are written by :mod:`evaluate.search_results`.

:func:`search_supernet` is the whole search from a checkpoint path (what ``nas-search`` and the
pipeline run); :func:`run_nas_search` searches with an evaluator and cost model already built.

Example:
    >>> result = search_supernet("outputs/train_supernet/RUN",
    ...                          SearchSettings(budget=Budget(macs=2e6)), Path("out"),
    ...                          calib_images=256, use_ema=True, device="auto")  # doctest: +SKIP
    >>> result.best.accuracy  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lamoo_nas.evaluate.accuracy_cache import CACHE_NAME, CheckpointOrigin, weights_fingerprint
from lamoo_nas.evaluate.codec import ArchCodec, LatencyFn
from lamoo_nas.evaluate.evaluator import CachedAccuracy, InheritedAccuracyEvaluator
from lamoo_nas.evaluate.executor import ExecutorConfig, make_pool
from lamoo_nas.evaluate.objectives import (
    ACCURACY,
    LATENCY_NEEDS_TABLE,
    OracleContext,
    objectives_of,
)
from lamoo_nas.evaluate.pooled_accuracy import PooledAccuracy, ScorerSpec
from lamoo_nas.evaluate.search_results import SearchResult, write_search_outputs
from lamoo_nas.evaluate.search_settings import (
    SearchSettings,
    positive_int,
    reference_point,
    settings_record,
    unused_sections,
)
from lamoo_nas.runtime.data import build_data
from lamoo_nas.runtime.distributed import init_from_env, shutdown
from lamoo_nas.runtime.rundir import NEUTRAL_KEYS, RESTART_NOTE, RunDirectory
from lamoo_nas.search import KnownObjectives, SearchHistory, hypervolume, make_strategy, run_search
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.checkpoint import load_supernet

HISTORY_NAME = "history.json"
"""The search's state: a search resumes from it (and is started afresh without it)."""


def search_supernet(
    supernet: str | Path,
    settings: SearchSettings,
    run_dir: Path,
    *,
    calib_images: int,
    use_ema: bool,
    device: str,
    data_overrides: Mapping[str, Any] | None = None,
    resume_changes: Sequence[str] = (),
    latency_table: str | Path | None = None,
    executor: ExecutorConfig | None = None,
    num_threads: int | None = 1,
) -> SearchResult:
    """Load the supernet (run directory or checkpoint) and its data, search, write the outputs
    into ``run_dir`` (resuming the search found there).

    ``data_overrides`` replace fields of the checkpoint's own data config (e.g. ``root``).
    Under ``torchrun`` every rank proposes the same architectures (same seed) and scores its
    shard of the validation split; the correct counts are summed across ranks. Rank 0 writes
    ``run_dir`` and prints the budget notes, the other ranks keep their copies under
    ``<run_dir>/.ranks/`` (their result says which ``rank`` they are).

    Rank 0 locks ``run_dir`` and checks its manifest (:mod:`runtime.rundir`): a folder that is not
    a search run is refused, and an existing search resumes only with the same settings (except
    ``num_samples``, which may grow, and the keys in ``resume_changes``) and the same supernet
    weights, so two searches never mix their results.

    ``latency_table`` (from ``nas-latency-table``) predicts each architecture's latency: it is
    needed by the ``latency`` objective and by ``budget.latency_ms``.

    ``executor`` spreads each batch of proposals over worker processes or Ray actors
    (:mod:`evaluate.executor`; default serial), each running ``num_threads`` torch threads;
    the history is the same as a serial search's. It does not combine with ``torchrun``.
    """
    positive_int("calib_images", calib_images)  # before any file or data is read
    if latency_table is None and uses_latency(settings):
        raise ConfigError(LATENCY_NEEDS_TABLE)
    executor = executor or ExecutorConfig()
    pooled = executor.kind != "serial"
    if pooled and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            f"executor={executor.kind} under torchrun: use one of them; executor=local (one "
            "worker per GPU) or executor=ray replace torchrun for the search"
        )
    ctx = init_from_env(device)
    if not ctx.is_main:
        run_dir = run_dir / ".ranks" / f"rank{ctx.rank}"
        settings = dataclasses.replace(settings, progress=False)
    stack = contextlib.ExitStack()
    try:
        loaded = load_supernet(
            supernet, map_location="cpu" if pooled else ctx.device, use_ema=use_ema
        )
        data_cfg = dataclasses.replace(loaded.data_config, **dict(data_overrides or {}))
        origin = CheckpointOrigin(str(Path(loaded.path).resolve()), loaded.epoch, loaded.step)
        image_size = max(loaded.space.resolutions)
        if pooled:
            spec = ScorerSpec(
                origin.path, use_ema, data_cfg, image_size, calib_images,
                data_cfg.eval_batch_size, origin,
            )  # fmt: skip
            pool = stack.enter_context(make_pool(executor, spec, device, num_threads))
            evaluator: CachedAccuracy = PooledAccuracy(pool, loaded.space)
            if ctx.is_main and settings.batch_size < pool.num_workers:
                print(
                    f"note: batch_size={settings.batch_size} proposals per iteration keep only "
                    f"{settings.batch_size} of the {pool.num_workers} workers busy; "
                    f"batch_size={pool.num_workers} (or a multiple) uses them all",
                    flush=True,
                )
        else:
            bundle = build_data(data_cfg, image_size=image_size)
            evaluator = InheritedAccuracyEvaluator.from_bundle(
                loaded.model, bundle, calib_images, data_cfg.eval_batch_size, ctx.device, origin
            )
        cost_model = CostModel(loaded.space, loaded.num_classes)
        latency, fastest, table_id = _latency(latency_table, loaded.space, loaded.num_classes)
        ArchCodec(loaded.space, cost_model, settings.budget, latency, fastest)  # feasible?
        if ctx.is_main:  # (an infeasible budget is refused before the run folder is touched)
            for note in settings.budget.slack(cost_model.largest()):
                print(f"note: {note}", flush=True)
        config = {
            "settings": settings_record(settings),
            "calib_images": calib_images,
            "use_ema": use_ema,
            "data": dict(data_overrides or {}),
        }
        fingerprints = {
            "space": loaded.space.fingerprint,
            "supernet weights": weights_fingerprint(loaded.model),
            **({"latency table": table_id} if table_id else {}),
        }
        run = None
        if ctx.is_main:
            run = RunDirectory.open(
                run_dir,
                "search",
                config,
                fingerprints,
                resume=True,
                resume_changes=resume_changes,
                neutral_keys=NEUTRAL_KEYS | {"num_samples"} | unused_sections(settings),
                state_files=(HISTORY_NAME,),
            )
            if run.restarted:
                print(f"note: {RESTART_NOTE.format(run_dir=run_dir)}", flush=True)
            elif run.previous_status is not None:
                print(f"note: {_resume_note(run_dir, run.previous_status, settings)}", flush=True)
        try:
            result = run_nas_search(
                loaded.space, cost_model, evaluator, settings, run_dir, latency, fastest
            )
            if run is not None:
                run.finish()
        finally:
            if run is not None:
                run.close()
    finally:
        stack.close()
        shutdown(ctx)
    return dataclasses.replace(result, rank=ctx.rank)


@dataclass(frozen=True)
class SearchRunOptions:
    """How ``nas-search`` runs, besides what it searches for (:class:`SearchSettings`): the
    other keys of ``conf/stage/search.yaml``, with their defaults (the YAML mirrors them).

    ``calib_images``: training images that recalibrate BN per architecture; ``use_ema``: the
    supernet's EMA weights when it has them; ``latency_table``: a ``nas-latency-table`` file
    (the latency objective and budget); ``data``: overrides of the supernet's data config.
    """

    calib_images: int = 256
    use_ema: bool = True
    latency_table: str | None = None
    data: dict[str, Any] | None = None


def run_nas_search(
    space: SearchSpace,
    cost_model: CostModel,
    evaluator: CachedAccuracy,
    settings: SearchSettings,
    run_dir: str | Path,
    latency: LatencyFn | None = None,
    fastest: ArchConfig | None = None,
) -> SearchResult:
    """Search, resuming from ``run_dir/history.json`` if it exists; write every output there.
    ``latency`` predicts latency in ms (the ``latency`` objective, ``budget.latency_ms``);
    ``fastest`` is its fastest architecture (see :class:`evaluate.codec.ArchCodec`).

    Outputs: ``history.json``/``history.csv`` (the engine's), ``accuracy_cache.jsonl`` (every
    accuracy measured, reused on resume) and those of
    :func:`evaluate.search_results.write_search_outputs`.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # a bound above the largest architecture's cost searches exactly as no bound
    settings = dataclasses.replace(settings, budget=settings.budget.binding(cost_model.largest()))
    history_path = run_dir / HISTORY_NAME
    previous = SearchHistory.load(history_path) if history_path.exists() else None
    if previous is not None:  # another space is named as such, before the cache is read
        for evaluation in previous.evaluations:
            space.arch_from_json(evaluation.arch)
    evaluator.persist_to(run_dir / CACHE_NAME)
    if latency is None and uses_latency(settings):
        raise ConfigError(LATENCY_NEEDS_TABLE)
    codec = ArchCodec(space, cost_model, settings.budget, latency, fastest)
    names = list(settings.objectives)
    objectives = objectives_of(names)
    accuracy_column = names.index(ACCURACY.name)
    cost_columns = tuple(i for i, n in enumerate(names) if n != ACCURACY.name)
    context = OracleContext(cost_model, latency)

    def known(archs: Sequence[ArchConfig]) -> np.ndarray:
        return np.array(
            [
                [objectives[i].value(context, a) * objectives[i].to_maximised for i in cost_columns]
                for a in archs
            ],
            dtype=np.float64,
        ).reshape(len(archs), len(cost_columns))

    ref_point = reference_point(names, settings.budget, cost_model, latency)
    strategy = make_strategy(
        settings.strategy,
        codec,
        ref_point,
        len(names),
        known_objectives=KnownObjectives(cost_columns, known),
        seed=settings.seed,
        num_init=settings.num_init,
        options=settings.strategy_options,
    )
    progress = _Progress(settings.num_samples, ref_point, names, settings.progress)

    def evaluate_fn(archs: Sequence[ArchConfig]) -> np.ndarray:
        values = np.empty((len(archs), len(names)))
        values[:, accuracy_column] = evaluator.accuracy(archs) * ACCURACY.to_maximised
        values[:, list(cost_columns)] = known(archs)
        progress.update(values)
        return values

    if previous is not None:
        progress.resume(previous.objectives())
    history = run_search(
        strategy,
        evaluate_fn,
        history_path,
        settings.num_samples,
        settings.batch_size,
        names,
        ref_point,
        progress=False,
        objective_units=[objective.maximised_unit for objective in objectives],
    )
    progress.close()
    return write_search_outputs(
        space, cost_model, settings, history, run_dir, evaluator.seconds_per_eval, latency
    )


def _resume_note(run_dir: Path, status: str, settings: SearchSettings) -> str:
    """What a resumed search says first: where it resumes, how far the history is, what is left."""
    done = len(SearchHistory.load(run_dir / HISTORY_NAME).evaluations)
    left = max(0, settings.num_samples - done)
    state = "finished" if status == "finished" else "interrupted"
    return (
        f"resuming the {state} search in {run_dir}: {done} architectures evaluated, "
        f"{left} more to reach num_samples={settings.num_samples}"
    )


def uses_latency(settings: SearchSettings) -> bool:
    """True when the search needs a latency predictor (an objective's oracle or the budget)."""
    needs = any(objective.needs_latency for objective in objectives_of(settings.objectives))
    return needs or settings.budget.latency_ms is not None


def _latency(
    path: str | Path | None, space: SearchSpace, num_classes: int
) -> tuple[LatencyFn | None, ArchConfig | None, str | None]:
    """The table's predictor, its fastest architecture (which also checks that the table has
    every entry the space needs) and the table's fingerprint for the manifest."""
    if path is None:
        return None, None, None
    from lamoo_nas.evaluate.latency_table import LatencyPredictor

    predictor = LatencyPredictor.load(path, space, num_classes)
    fastest, _ = predictor.fastest()
    return predictor.predict_ms, fastest, predictor.table.fingerprint


class _Progress:
    """tqdm bar with the best accuracy so far and the current hypervolume."""

    def __init__(self, total: int, ref_point: list[float], names: list[str], on: bool) -> None:
        self.ref_point = ref_point
        self.accuracy_column = names.index("accuracy")
        self.values = np.zeros((0, len(names)))
        # like the training bars: none in a log file (no carriage returns there)
        self.bar = tqdm(total=total, desc="search", disable=not (on and sys.stderr.isatty()),
                        unit="arch")  # fmt: skip

    def resume(self, values: np.ndarray) -> None:
        self.values = values
        self.bar.update(len(values))

    def update(self, values: np.ndarray) -> None:
        self.values = np.concatenate([self.values, values])
        self.bar.update(len(values))
        best = self.values[:, self.accuracy_column].max()
        hv = hypervolume(self.values, self.ref_point)
        self.bar.set_postfix(best_acc=f"{best:.2f}%", hv=f"{hv:.4g}")

    def close(self) -> None:
        self.bar.close()
