"""``nas-pipeline``: the main job, end to end in one run directory.

Stages, each resumable (re-run with the same ``run_dir`` keeps finished stages):

1. ``supernet/``: train the supernet (:func:`train.run.train_supernet`); skipped when
   ``final.pt`` exists, resumed from ``last.pt`` when only that exists.
2. ``search/``: constrained search over inherited-weight accuracy and exact cost
   (:func:`evaluate.supernet_search.search_supernet`); resumes from its history.
   With ``few_shot=choices|learned`` (``few_shot/``) the trained supernet is then split into
   sub-supernets (:mod:`evaluate.few_shot`) and the search scores the few-shot run.
3. ``retrain/rank<i>/``: the ``top_k`` front architectures of highest inherited accuracy
   (topped up with the best architectures off the front when the front is smaller), retrained
   from scratch, measured on the test split and exported; a finished one is kept.
4. ``hub/`` (only with ``tiers.macs|params|latency_ms=[...]``): one architecture per tier,
   picked by the search's block model and the exact programme, retrained, exported and
   measured into ``hub/tier<i>/``; ``hub.json``, ``hub.md``, ``hub.png`` (:mod:`evaluate.hub`).
5. ``report.md`` (+ ``pipeline.json``): front, retrained results, rank fidelity, stage times.

The winner is the architecture with the best inherited *validation* accuracy within the budget
(never chosen by test accuracy); its retrained test accuracy is the headline number.

Examples (shell)::

    nas-pipeline                                          # digits, tiny space, ~5 min on CPU
    nas-pipeline data=cifar10 data.root=/data space=cifar recipe=cifar search.budget.macs=100e6
    nas-pipeline tiers.macs=[250e3,400e3,600e3]           # + a three-tier model hub
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from lamoo_nas.commands.hub_stage import hub_stage
from lamoo_nas.commands.report import RetrainedRow, write_report
from lamoo_nas.commands.runner import plain_config, run_cli, run_dir_for
from lamoo_nas.commands.search import search_from_plain
from lamoo_nas.commands.settings import CommonSettings
from lamoo_nas.evaluate.executor import WorkerInfo, executor_from_plain, make_pool
from lamoo_nas.evaluate.hub import tiers_from_plain
from lamoo_nas.evaluate.retrain import METRICS_NAME, FinishOptions
from lamoo_nas.evaluate.search_results import SearchResult
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.runtime.rundir import RunDirectory
from lamoo_nas.search import SearchError
from lamoo_nas.supernet import ArchConfig, SearchSpace
from lamoo_nas.supernet.errors import ConfigError, NASError
from lamoo_nas.train.checkpoint import FINAL_NAME, LAST_NAME
from lamoo_nas.train.recipes import Recipe
from lamoo_nas.train.retrain import RetrainOptions

COMMON = ("seed", "device", "num_threads", "progress", "resume_changes")
"""conf/common.yaml: the settings every stage shares."""


@dataclass(frozen=True)
class PipelineRetrainOptions:
    """The pipeline's own setting of its retrain stage (``retrain.top_k`` of
    conf/pipeline.yaml; the rest of ``retrain.`` is ``nas-retrain``'s)."""

    top_k: int = 3  # front architectures retrained, those of highest inherited accuracy


@dataclass
class StageTimer:
    """Wall time of each stage, in seconds (stages skipped on resume take ~0)."""

    seconds: dict[str, float]

    def run(self, name: str, fn: Any, *args: Any) -> Any:
        print(f"== {name} ==", flush=True)
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[name] = round(time.perf_counter() - start, 2)
        return out


def stage_settings(plain: Mapping[str, Any], stage: str, groups: tuple[str, ...]) -> dict[str, Any]:
    """One stage's plain settings, shaped like its own command's config: the shared groups,
    conf/common.yaml, then the stage's section (conf/stage/<stage>.yaml)."""
    return {
        **{name: plain[name] for name in groups},
        **{name: plain[name] for name in COMMON},
        **dict(plain[stage]),
    }


def train_stage(plain: dict[str, Any], run_dir: Path) -> Path:
    """Train (or resume, or keep) the supernet; returns its run directory."""
    from lamoo_nas.commands.settings import GROUPS, supernet_config_from_plain
    from lamoo_nas.runtime.distributed import init_from_env, shutdown
    from lamoo_nas.train.run import train_supernet

    if (run_dir / FINAL_NAME).exists():
        return run_dir
    last = run_dir / LAST_NAME
    settings = stage_settings(plain, "supernet", GROUPS)
    typed = supernet_config_from_plain(settings, resume=str(last) if last.exists() else None)
    ctx = init_from_env(typed.run.device)
    torch.manual_seed(typed.run.seed)  # weight init, as nas-train-supernet does
    try:
        train_supernet(typed, run_dir, ctx)
    finally:
        shutdown(ctx)
    return run_dir


def few_shot_stage(plain: dict[str, Any], supernet_dir: Path, run_dir: Path) -> Path:
    """With ``few_shot=choices|learned``: split the pipeline's supernet into sub-supernets
    (:mod:`evaluate.few_shot`, the parent is the supernet stage); returns the few-shot run the
    search then uses, or ``supernet_dir`` unchanged without a split. Resumes like the others."""
    from lamoo_nas.commands.settings import GROUPS, supernet_config_from_plain
    from lamoo_nas.evaluate.few_shot import FewShotConfig, train_few_shot
    from lamoo_nas.runtime.distributed import init_from_env, shutdown
    from lamoo_nas.runtime.schema import build

    section = dict(plain.get("few_shot") or {"kind": "none"})
    if section.get("kind", "none") == "none":
        return supernet_dir
    few = build(FewShotConfig, {**section, "parent": str(supernet_dir)}, "few_shot")
    manifest = run_dir / "run.json"
    if manifest.is_file() and '"finished"' in manifest.read_text():
        return run_dir
    settings = stage_settings(plain, "supernet", GROUPS)
    typed = supernet_config_from_plain(
        {**settings, "few_shot": {**section, "parent": str(supernet_dir)}},
        resume=str(run_dir) if manifest.is_file() else None,
    )
    ctx = init_from_env(typed.run.device)
    try:
        train_few_shot(typed, few, run_dir, ctx)
    finally:
        shutdown(ctx)
    return run_dir


def search_stage(plain: dict[str, Any], supernet_dir: Path, run_dir: Path) -> SearchResult:
    """Search the trained supernet under the budget (resumes from the history)."""
    groups = ("strategy", "executor")
    return search_from_plain(supernet_dir, stage_settings(plain, "search", groups), run_dir)


def retrain_stage(
    plain: dict[str, Any], search_result: SearchResult, run_dir: Path
) -> list[RetrainedRow]:
    """Retrain the ``top_k`` best architectures within the budget by the search's ``pick``
    (``model``: highest block-model accuracy; ``measured``: the front's of highest inherited
    accuracy, topped up with the most accurate off the front when it has fewer than ``top_k``),
    one after another or, with ``executor=local``/``ray``, in parallel on its workers (one
    retraining each; on CUDA one GPU each). A finished one (``metrics.json``) is kept."""
    from lamoo_nas.runtime.schema import coerce

    section = dict(plain["retrain"])
    top_k = coerce(section.pop("top_k", PipelineRetrainOptions.top_k), int, "retrain.top_k")
    if top_k < 1:
        raise ConfigError(f"retrain.top_k must be >= 1, got {top_k}")
    if search_result.summary.get("pick", {}).get("by") == "model":
        front = search_result.ranked[:top_k]  # the block model's best within the budget
    else:  # the front first; its best-accuracy members first
        by_accuracy = sorted(
            search_result.rows, key=lambda r: (not r.is_pareto, -r.accuracy, r.macs)
        )
        front = by_accuracy[:top_k]
    run_retrains(
        plain,
        search_result.space,
        [("rank", rank, len(front), scored.arch, run_dir / f"rank{rank}")
         for rank, scored in enumerate(front, start=1)],
    )  # fmt: skip
    return [
        RetrainedRow(
            rank,
            scored,
            json.loads((run_dir / f"rank{rank}" / METRICS_NAME).read_text()),
            run_dir / f"rank{rank}",
        )
        for rank, scored in enumerate(front, start=1)
    ]


RetrainEntry = tuple[str, int, int, ArchConfig, Path]
"""One retraining: label (``rank``, ``tier``), its number, how many, the arch, its folder."""


def run_retrains(plain: dict[str, Any], space: SearchSpace, entries: list[RetrainEntry]) -> None:
    """Retrain, test and export each entry that has no ``metrics.json`` yet (one that has a
    ``last.pt`` resumes), on the pipeline's executor: one after another, or with
    ``executor=local``/``ray`` in parallel on its workers (on CUDA one GPU each)."""
    from lamoo_nas.commands.settings import recipe_from_config, retrain_settings_from_plain
    from lamoo_nas.runtime.schema import build, coerce

    section = {k: v for k, v in dict(plain["retrain"]).items() if k != "top_k"}
    data_cfg = build(DataConfig, plain["data"], "data")
    recipe = recipe_from_config(plain["recipe"])
    jobs = []
    for label, number, of, arch, target in entries:
        if not (target / METRICS_NAME).exists():
            settings = {
                **{name: plain[name] for name in COMMON},
                **section,
                "resume": (target / LAST_NAME).exists(),
            }
            options, finish = retrain_settings_from_plain(settings, {**plain, "arch": str(arch)})
            jobs.append(
                RetrainJob(number, of, arch, space, data_cfg, recipe, target, options, finish,
                           label)
            )  # fmt: skip
    executor = executor_from_plain(plain.get("executor"))
    if jobs:
        device = coerce(plain["device"], str, "device")
        threads = coerce(
            plain.get("num_threads", CommonSettings.num_threads), int | None, "num_threads"
        )
        with make_pool(executor, WorkerInfo.itself, device, threads, len(jobs)) as pool:
            pool.map(retrain_job, jobs, None)


@dataclass(frozen=True)
class RetrainJob:
    """One architecture of the pipeline's top-k, retrained by :func:`retrain_job`."""

    rank: int
    of: int
    arch: ArchConfig
    space: SearchSpace
    data: DataConfig
    recipe: Recipe
    target: Path
    options: RetrainOptions
    finish: FinishOptions
    label: str = "rank"


def retrain_job(worker: WorkerInfo, job: RetrainJob) -> None:
    """The executor's task: retrain, test and export one architecture (a pool worker runs it,
    in this process with the serial executor)."""
    from lamoo_nas.evaluate.retrain import retrain_and_export

    print(f"retrain {job.label} {job.rank}/{job.of}: {job.arch}", flush=True)
    retrain_and_export(
        job.arch, job.space, job.data, job.recipe, job.target, job.options, job.finish
    )


STAGE_INPUTS = {
    "supernet": ("space", "data", "sampler", "distill", "optim", "schedule", "supernet", "seed"),
    "few_shot": ("few_shot",),
    "search": ("strategy", "search"),
    "retrain": ("recipe", "retrain"),
    "hub": ("tiers",),
}
"""The top-level settings each stage reads; a stage also depends on every stage before it."""


def run_pipeline(plain: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """All stages into ``run_dir`` from the plain composed settings (``conf/pipeline.yaml``
    resolved); returns the pipeline summary (also written to pipeline.json).

    ``run_dir`` is a guarded run directory (:mod:`runtime.rundir`, kind ``pipeline``): re-running
    it with the same settings resumes (finished stages are kept), with other settings it is
    refused unless ``resume_changes`` lists them; then every stage whose inputs changed (and
    every stage after it) is run again, its old folder kept as ``<stage>.replaced-<time>``.
    """
    tiers = tiers_from_plain(plain.get("tiers"), plain["search"])  # before any work
    # without tiers the manifest has no "tiers" key: runs from before the hub resume as they
    # were, and a finished run takes tiers later with resume_changes=[tiers] (only hub/ is new)
    manifest = plain if tiers is not None else {k: v for k, v in plain.items() if k != "tiers"}
    with RunDirectory.open(
        run_dir,
        "pipeline",
        manifest,
        {},
        resume=True,
        resume_changes=tuple(plain.get("resume_changes") or ()),
    ) as run:
        _set_aside_stale_stages(run_dir, run.accepted)
        timer = StageTimer({})
        supernet_dir = timer.run("supernet", train_stage, plain, run_dir / "supernet")
        searched = supernet_dir
        if (plain.get("few_shot") or {}).get("kind", "none") != "none":
            searched = timer.run(
                "few_shot", few_shot_stage, plain, supernet_dir, run_dir / "few_shot"
            )
        result = timer.run("search", search_stage, plain, searched, run_dir / "search")
        rows = timer.run("retrain", retrain_stage, plain, result, run_dir / "retrain")
        hub = None
        if tiers is not None:
            hub = timer.run("hub", hub_stage, plain, tiers, result, supernet_dir, run_dir / "hub",
                            run_retrains)  # fmt: skip
        summary = write_report(run_dir, supernet_dir, result, rows, timer.seconds)
        if hub is not None:
            summary["hub"] = {"json": "hub/hub.json", "md": "hub/hub.md", "png": "hub/hub.png",
                              "tiers": hub["tiers"]}  # fmt: skip
            _append_hub(run_dir / "report.md", run_dir / "hub" / "hub.md")
        atomic_write_text(run_dir / "pipeline.json", json.dumps(summary, indent=1) + "\n")
        run.finish()
    return summary


def _append_hub(report: Path, hub_md: Path) -> None:
    """The hub's table as the report's last section (its title one level down)."""
    body = hub_md.read_text().split("\n", 1)[1].replace("\n## ", "\n### ")
    text = report.read_text().rstrip("\n")
    atomic_write_text(report, f"{text}\n\n## Model hub (hub/hub.md, hub/hub.png)\n{body}")


def _set_aside_stale_stages(run_dir: Path, differences: list[tuple[str, Any, Any]]) -> None:
    """Rename the folder of the first stage whose inputs differ, and of every later stage."""
    changed = {key.split(".", 1)[0] for key, _, _ in differences}
    stale = False
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for stage, inputs in STAGE_INPUTS.items():
        stale = stale or bool(changed & set(inputs))
        folder = run_dir / stage
        if stale and folder.exists():
            target = run_dir / f"{stage}.replaced-{stamp}"
            folder.rename(target)
            print(f"{stage}: its settings changed; the old stage is kept in {target}", flush=True)


def run(cfg: DictConfig) -> dict[str, Any]:
    """All stages into one run directory; returns the pipeline summary (also pipeline.json)."""
    run_dir = run_dir_for(cfg)
    summary = run_pipeline(plain_config(cfg), run_dir)
    supernet_dir = run_dir / "supernet"
    print(f"\nreport: {run_dir / 'report.md'}")
    if "hub" in summary:
        tiers = summary["hub"]["tiers"]
        missed = sum(not t["meets_budget"] for t in tiers)
        print(f"hub: {run_dir / 'hub' / 'hub.md'} ({len(tiers)} tiers, {missed} missed)")
    winner = summary["winner"]
    print(
        f"winner: test top-1 {100 * winner['test_top1']:.2f}%, {winner['macs']:,} MACs, "
        f"{winner['params']:,} params, {winner['latency_cpu_ms']:.3f} ms CPU (batch 1); "
        f"total {summary['total_seconds']:.0f} s"
    )
    export = run_dir / "retrain" / "rank1" / "export"
    print(
        f"results: {run_dir} (report.md, search/pareto.png, retrain/rank1/export/)\n"
        f"next: nas-evaluate model={export}   # or nas-search supernet={supernet_dir} "
        "budget.macs=...\n(the nas-* commands live in .venv/bin: `source .venv/bin/activate`)"
    )
    return summary


def _task(cfg: DictConfig) -> float:
    return float(run(cfg)["winner"]["test_top1"])


def main() -> None:
    """Console entry point ``nas-pipeline``."""
    run_cli("pipeline", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
