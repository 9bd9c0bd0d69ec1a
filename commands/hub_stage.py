"""The pipeline's ``hub`` stage (``tiers.*``): pick, retrain, export, measure, report.

Each tier's folder ``hub/tier<i>/`` is a retrain run (``metrics.json``, ``export/``) plus
``hub_tier.json``, written once its export's latency is measured: a resumed hub keeps every
tier that has it (for the same architecture). The latency correction fitted on whole networks
(``tiers.calibrate``) is kept in ``hub/calibration.json``, so a resumed hub picks the same
architectures.

Example:
    >>> summary = hub_stage(plain, tiers, search_result, supernet_dir, run_dir / "hub",
    ...                     run_retrains)  # doctest: +SKIP
    >>> [t["meets_budget"] for t in summary["tiers"]]  # doctest: +SKIP
    [True, True, False]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.hub import (
    MeasureSettings,
    TierPicker,
    TierSettings,
    calibrate,
    measure_export,
    tier_row,
)
from lamoo_nas.evaluate.hub_report import write_hub
from lamoo_nas.evaluate.retrain import EXPORT_DIR, METRICS_NAME
from lamoo_nas.evaluate.search_results import SearchResult
from lamoo_nas.runtime.io import atomic_write_text

TIER_RESULT = "hub_tier.json"
CALIBRATION = "calibration.json"
Retrain = Callable[[dict[str, Any], Any, list[Any]], None]
""":func:`commands.pipeline.run_retrains`: retrain and export ``(label, i, n, arch, folder)``."""


def hub_stage(
    plain: dict[str, Any],
    tiers: TierSettings,
    search_result: SearchResult,
    supernet_dir: Path,
    run_dir: Path,
    retrain: Retrain,
) -> dict[str, Any]:
    """The model hub (:mod:`evaluate.hub`) into ``run_dir``; returns what hub.json holds."""
    from lamoo_nas.commands.settings import retrain_settings_from_plain
    from lamoo_nas.evaluate.latency_table import LatencyPredictor
    from lamoo_nas.evaluate.search_results import fit_search_model
    from lamoo_nas.runtime.schema import coerce
    from lamoo_nas.supernet import CostModel
    from lamoo_nas.train.checkpoint import load_supernet

    space = search_result.space
    num_classes = load_supernet(supernet_dir, map_location="cpu").num_classes
    model = fit_search_model(space, search_result.rows)
    _, finish = retrain_settings_from_plain(dict(plain["retrain"]), {})
    warmup, repeats = finish.latency_warmup, finish.latency_repeats
    table = plain["search"].get("latency_table")
    predictor = LatencyPredictor.load(table, space, num_classes) if table else None
    threads = coerce(plain.get("num_threads"), int | None, "num_threads") or 1
    measure = (
        MeasureSettings.of_table(predictor.table.header, warmup, repeats)
        if predictor is not None
        else MeasureSettings.cpu(threads, warmup, repeats)
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    correction = None
    search_budget = Budget(**search_result.summary["budget"])
    if predictor is not None and tiers.calibrate:
        predictor, correction = _calibrated(predictor, measure, tiers, plain, run_dir)
        search_budget = dataclasses.replace(search_budget, latency_ms=None)
        rows = [dataclasses.replace(r, latency_ms=predictor.predict_ms(r.arch))
                for r in search_result.rows]  # fmt: skip
        search_result = dataclasses.replace(search_result, rows=rows)
    picker = TierPicker(
        search_result,
        CostModel(space, num_classes),
        model,
        predictor.predict_ms if predictor is not None else None,
        search_budget,
    )
    picks = picker.pick(tiers)
    finished: dict[int, dict[str, Any]] = {}
    for pick in picks:
        done = run_dir / f"tier{pick.tier}" / TIER_RESULT
        if done.is_file():
            row = json.loads(done.read_text())
            if row["arch_str"] == str(pick.arch):  # the same pick: keep it
                finished[pick.tier] = row
    todo = [p for p in picks if p.tier not in finished]
    retrain(plain, space, [("tier", p.tier, len(picks), p.arch, run_dir / f"tier{p.tier}")
                           for p in todo])  # fmt: skip
    for pick in todo:
        folder = run_dir / f"tier{pick.tier}"
        stats = measure_export(folder / EXPORT_DIR, measure)
        metrics = json.loads((folder / METRICS_NAME).read_text())
        export = str((folder / EXPORT_DIR).relative_to(run_dir.parent))
        row = tier_row(pick, tiers.kind, metrics, stats, export, picker.offer_below,
                       space.arch_to_json)  # fmt: skip
        text = json.dumps(row, indent=1)
        atomic_write_text(folder / TIER_RESULT, text + "\n")
        finished[pick.tier] = json.loads(text)  # as a resumed hub reads it back
    summary = {
        "kind": tiers.kind,
        "budgets": list(tiers.budgets),
        "picked_by": (
            f"block model (ridge over block choices, {model.num_samples} searched "
            f"architectures, CV Kendall tau {_tau(model.cv_kendall_tau)}) + exact programme"
            if tiers.pick == "model"
            else "the search's best inherited accuracy under each budget"
        ),
        "pick": tiers.pick,
        "search_budget": search_result.summary["budget"],
        "latency_correction": correction,
        "measured_on": {**dataclasses.asdict(measure), "describe": measure.describe()},
        "tiers": [finished[p.tier] for p in picks],
    }
    write_hub(run_dir, summary, search_result.rows)
    for row in summary["tiers"]:
        if not row["meets_budget"]:
            print(f"hub: tier {row['tier']} measured {row['latency_ms']['median']:.3f} ms, "
                  f"over its budget {row['budget']:g} ms (see hub.md)", flush=True)  # fmt: skip
    return summary


def _tau(value: float | None) -> str:
    return "not computed" if value is None else f"{value:.3f}"


def _calibrated(
    predictor: Any, measure: MeasureSettings, tiers: TierSettings, plain: dict[str, Any],
    run_dir: Path,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The predictor corrected to whole networks, fitted once and kept in calibration.json."""
    from lamoo_nas.evaluate.latency_table import LatencyPredictor

    path = run_dir / CALIBRATION
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("networks") == tiers.calibrate and saved.get("table") == (
            predictor.table.fingerprint
        ):
            corrected = LatencyPredictor(predictor.space, predictor.num_classes, predictor.table,
                                         saved["scale"], saved["offset"])  # fmt: skip
            return corrected, saved
    corrected = calibrate(predictor, measure, tiers.calibrate, int(plain.get("seed") or 0))
    saved = {"scale": corrected.scale, "offset": corrected.offset, "networks": tiers.calibrate,
             "table": predictor.table.fingerprint}  # fmt: skip
    atomic_write_text(path, json.dumps(saved, indent=1) + "\n")
    return corrected, saved
