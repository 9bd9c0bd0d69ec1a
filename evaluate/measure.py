"""What ``nas-evaluate`` measures: accuracy, MACs, params and latency of an exported model or
of a supernet architecture (inherited weights after BN recalibration), and the rank fidelity of
inherited vs retrained accuracies (from pairs, a pipeline run, or a ground-truth table).

Each function returns the result as plain data (what :mod:`commands.evaluate` prints and writes).

Example:
    >>> evaluate_exported("outputs/retrain/RUN/export", None, "test", torch.device("cpu"),
    ...                   LatencyOptions())["top1"]  # doctest: +SKIP
    0.98
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.evaluate.rank import (
    pairs_csv,
    plot_rank_scatter,
    rank_fidelity,
    read_pairs,
    run_pairs,
)
from lamoo_nas.runtime.metrics import TopK, accuracy_of
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace


@dataclass(frozen=True)
class LatencyOptions:
    """Batch size, warm-up runs and timed runs of the latency measurement."""

    batch_size: int = 1
    warmup: int = 10
    repeats: int = 50


def evaluate_network(
    net: nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    num_classes: int,
    loader: Any,
    device: torch.device,
    latency: LatencyOptions,
) -> dict[str, Any]:
    """Top-1/top-5, MACs, params (cost model, checked against the module) and latency.

    Example:
        >>> evaluate_network(net, arch, space, 10, loader, torch.device("cpu"),
        ...                  LatencyOptions())["top1"]  # doctest: +SKIP
        0.98
    """
    # one process scores the whole split: nothing to sum over ranks
    counts = accuracy_of(net.to(device), loader, device, ks=(1, 5), reduce=False)
    return {**_accuracy_fields(counts), **network_costs(net, arch, space, num_classes, latency)}


def network_costs(
    net: nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    num_classes: int,
    latency: LatencyOptions,
) -> dict[str, Any]:
    """MACs, params (cost model, checked against the module) and latency of ``net``."""
    from lamoo_nas.supernet.cost import count_cost

    cost = count_cost(space, arch, num_classes)
    counted = sum(p.numel() for p in net.parameters())
    if counted != cost.params:
        raise ConfigError(f"cost model says {cost.params} params, the network has {counted}")
    shape = (latency.batch_size, 3, arch.resolution, arch.resolution)
    cpu = measure_latency_ms(net, shape, "cpu", latency.warmup, latency.repeats)
    out: dict[str, Any] = {
        "macs": cost.macs,
        "params": cost.params,
        "latency_cpu_ms": round(cpu.median_ms, 4),
        "latency_cpu_p90_ms": round(cpu.p90_ms, 4),
        "latency_batch_size": latency.batch_size,
    }
    if torch.cuda.is_available():
        gpu = measure_latency_ms(net, shape, "cuda", latency.warmup, latency.repeats)
        out["latency_gpu_ms"] = round(gpu.median_ms, 4)
    return out


def _accuracy_fields(counts: TopK) -> dict[str, Any]:
    accuracy = counts.as_dict()
    return {**{k: accuracy[k] for k in ("top1", "top5") if k in accuracy},
            "num_images": accuracy["num_images"]}  # fmt: skip


def evaluate_exported(
    path: str | Path,
    data_cfg: Any | None,
    split: str,
    device: torch.device,
    latency: LatencyOptions,
) -> dict[str, Any]:
    """Metrics of an exported ``model.pt`` (or export folder) on ``split`` of ``data_cfg``.

    ``data_cfg`` None: the data config the export records (its ``preprocessing``). Given, its
    dataset and class names must be the export's.
    """
    from lamoo_nas.evaluate.load import load_exported
    from lamoo_nas.runtime.data import DataConfig, build_data
    from lamoo_nas.runtime.schema import file_fields

    exported = load_exported(path)
    recorded = (exported.preprocessing or {}).get("data_config")
    if data_cfg is None:
        if recorded is None:
            raise ConfigError(
                f"{exported.path} does not record its training data (an export of an older "
                "version); pass data=NAME (and data.root=...) it was trained on"
            )
        data_cfg = file_fields(
            {"data_config": recorded},
            {"data_config": DataConfig},
            f"exported model {exported.path}: preprocessing",
            ConfigError,
            "pass data=NAME (and data.root=...) it was trained on",
        )["data_config"]
    bundle = build_data(data_cfg, exported.arch.resolution)
    names = (exported.preprocessing or {}).get("class_names")
    if bundle.num_classes != exported.num_classes or (names and names != bundle.class_names):
        raise ConfigError(
            f"the model has {exported.num_classes} classes {names or ''} but data "
            f"{data_cfg.name!r} has {bundle.num_classes} {bundle.class_names}; pass the data= it "
            "was trained on"
        )
    loader = bundle.eval_loader(split, data_cfg.eval_batch_size)
    metrics = evaluate_network(
        exported.model, exported.arch, exported.space, exported.num_classes, loader, device, latency
    )
    return _describe(metrics, "model", str(exported.path), exported.arch, exported.space, split)


def evaluate_supernet_arch(
    supernet_path: str | Path,
    arch_path: str | Path,
    split: str,
    device: torch.device,
    latency: LatencyOptions,
    calib_images: int | None = None,
) -> dict[str, Any]:
    """Metrics of ``arch`` with weights inherited from a supernet after BN recalibration.

    The accuracy is :class:`train.scorer.InheritedScorer`'s (training's validation and the
    search use it too): the data is built at the space's largest resolution and resized to
    the architecture's, BN is recalibrated on the first ``calib_images`` (None: the data
    config's) images of the calib split.
    """
    from lamoo_nas.runtime.data import build_data
    from lamoo_nas.supernet.errors import ArchSpaceMismatchError
    from lamoo_nas.train.checkpoint import load_supernet
    from lamoo_nas.train.scorer import InheritedScorer

    loaded = load_supernet(supernet_path)
    try:
        arch = loaded.space.arch_from_json(_read_json(Path(arch_path)))
    except ArchSpaceMismatchError as err:
        raise ArchSpaceMismatchError(
            f"arch={arch_path} does not fit supernet={loaded.path}, which was trained on space "
            f"{loaded.space.name!r} ({str(err).split(';')[0]}); give an architecture searched "
            "on this supernet (its nas-search best_arch.json), or the supernet it was searched on"
        ) from err
    data = loaded.data_config
    bundle = build_data(data, max(loaded.space.resolutions))
    scorer = InheritedScorer.from_bundle(
        bundle, split, calib_images or data.calib_images, data.eval_batch_size, device,
        cached=False,
    )  # fmt: skip
    net = scorer.subnet(loaded.model, arch)
    counts = scorer.count(net, arch.resolution, ks=(1, 5))
    metrics = {**_accuracy_fields(counts),
               **network_costs(net, arch, loaded.space, loaded.num_classes, latency)}  # fmt: skip
    return _describe(metrics, "supernet", str(loaded.path), arch, loaded.space, split)


def evaluate_rank(pairs: str | Path, plot_path: Path, from_run: bool = False) -> dict[str, Any]:
    """Rank fidelity of the pairs in a CSV/JSON file (or, ``from_run``, of a pipeline run's
    retrained architectures: the pairs then go to ``pairs.csv`` beside the plot), with a
    scatter PNG at ``plot_path``."""
    from lamoo_nas.runtime.io import atomic_write_text

    inherited, retrained, labels = run_pairs(pairs) if from_run else read_pairs(pairs)
    report = rank_fidelity(inherited, retrained)
    plot_rank_scatter(inherited, retrained, plot_path, report, labels)
    source = {"pairs": str(pairs)}
    if from_run:
        written = atomic_write_text(
            plot_path.with_name("pairs.csv"), pairs_csv(inherited, retrained, labels)
        )
        source = {"run": str(pairs), "pairs": str(written)}
    return {"mode": "rank", **source, "plot": str(plot_path), **report.to_dict()}


def evaluate_against_truth(
    supernet_path: str | Path,
    truth_path: str | Path,
    out_dir: Path,
    device: torch.device,
    num_archs: int = 100,
    calib_images: int | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    val_images: int | None = None,
) -> dict[str, Any]:
    """Rank fidelity of a supernet against a ground-truth table (:mod:`evaluate.fidelity`).

    ``num_archs`` architectures of the table, stratified over MACs deciles, are scored with
    inherited weights after BN recalibration on the supernet's own validation split (carved
    from its training data); ``fidelity.json``/``.md``/``.png`` go to ``out_dir``. With
    ``val_images`` they are scored on that many images: the validation split, then the
    training images its capped train split left out (never trained on, never test).
    """
    import numpy as np

    from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
    from lamoo_nas.evaluate.fidelity import (
        fidelity_report,
        format_markdown,
        stratified_sample,
        write_report,
    )
    from lamoo_nas.evaluate.ground_truth import load_ground_truth
    from lamoo_nas.runtime.data import build_data
    from lamoo_nas.supernet.cost import CostModel
    from lamoo_nas.train.checkpoint import load_supernet

    loaded = load_supernet(supernet_path, map_location=device)
    truth = load_ground_truth(truth_path, loaded.space)
    cost = CostModel(loaded.space, loaded.num_classes)
    archs = stratified_sample(truth, cost, num_archs, np.random.default_rng(seed))
    data = loaded.data_config
    bundle = build_data(data, max(loaded.space.resolutions))
    val: Any = bundle.eval_loader("val", data.eval_batch_size)
    if val_images is not None:
        val = _first_images(val_images, val, bundle.eval_loader("holdout", data.eval_batch_size))
    evaluator = InheritedAccuracyEvaluator(
        loaded.model,
        bundle.eval_loader("calib", data.eval_batch_size),
        val,
        calib_images or data.calib_images,
        device,
    )
    inherited = np.asarray([evaluator.accuracy([a])[0] for a in _progress(archs, "rank")])
    report = fidelity_report(archs, inherited, truth, cost, seed=seed, bootstrap=bootstrap)
    paths = write_report(report, out_dir)
    print(format_markdown(report))
    summary = {f"{name}_{key}": m[key] for name, m in report["metrics"].items()
               for key in ("kendall_tau", "binned_tau")}  # fmt: skip
    return {"mode": "rank", "supernet": str(loaded.path), "truth": str(truth_path),
            **summary, **{k: str(v) for k, v in paths.items()}}  # fmt: skip


def _first_images(count: int, *loaders: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``count`` (image, label) pairs of the loaders in turn, as batches."""
    batches, seen = [], 0
    for loader in loaders:
        for x, y in loader:
            take = min(count - seen, int(y.shape[0]))
            batches.append((x[:take], y[:take]))
            seen += take
            if seen == count:
                return batches
    raise ConfigError(
        f"val_images={count} but the validation and holdout splits hold only {seen} images"
    )


def _progress(items: list[Any], desc: str) -> Any:
    import sys

    from tqdm import tqdm

    return tqdm(items, desc=desc, disable=not sys.stderr.isatty(), leave=False)


def _describe(
    metrics: dict[str, Any],
    mode: str,
    source: str,
    arch: ArchConfig,
    space: SearchSpace,
    split: str,
) -> dict[str, Any]:
    return {"mode": mode, "source": source, "split": split, **metrics,
            "arch": space.arch_to_json(arch)}  # fmt: skip


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"arch={path} is not a file; give the path to an arch JSON")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from err
