"""``nas-evaluate``: accuracy, MACs, params and latency of an exported model or of a supernet
architecture, or the rank fidelity of inherited vs retrained accuracies. Hydra app
``conf/evaluate.yaml``; prints a table and writes JSON.

Examples (shell)::

    nas-evaluate model=outputs/retrain/RUN/export                  # test split, digits
    nas-evaluate model=export/model.pt split=val data=cifar10 data.root=data/cifar
    nas-evaluate supernet=outputs/train_supernet/RUN arch=arch.json # inherited weights + BN recal
    nas-evaluate mode=rank pairs=pairs.csv                         # Kendall tau, Spearman, PNG
    nas-evaluate mode=rank supernet=RUN truth=nas-bench-macro_cifar10.json num_archs=100
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from evaluate.latency import measure_latency_ms
from evaluate.rank import pairs_csv, plot_rank_scatter, rank_fidelity, read_pairs, run_pairs
from supernet.errors import ConfigError
from supernet.space import ArchConfig, SearchSpace
from train.distributed import pick_device

MODES = ("auto", "model", "supernet", "rank")
SPLITS = ("test", "val")
RESULT_NAME = "evaluation.json"


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
    from supernet.cost import count_cost
    from train.metrics import accuracy_of

    # one process scores the whole split: nothing to sum over ranks
    accuracy = accuracy_of(net.to(device), loader, device, ks=(1, 5), reduce=False).as_dict()
    cost = count_cost(space, arch, num_classes)
    counted = sum(p.numel() for p in net.parameters())
    if counted != cost.params:
        raise ConfigError(f"cost model says {cost.params} params, the network has {counted}")
    shape = (latency.batch_size, 3, arch.resolution, arch.resolution)
    cpu = measure_latency_ms(net, shape, "cpu", latency.warmup, latency.repeats)
    out: dict[str, Any] = {
        **{k: accuracy[k] for k in ("top1", "top5") if k in accuracy},
        "num_images": accuracy["num_images"],
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
    from evaluate.load import load_exported
    from train.data import DataConfig, build_data

    exported = load_exported(path)
    recorded = (exported.preprocessing or {}).get("data_config")
    if data_cfg is None:
        if recorded is None:
            raise ConfigError(
                f"{exported.path} does not record its training data (an export of an older "
                "version); pass data=NAME (and data.root=...) it was trained on"
            )
        data_cfg = DataConfig(**recorded)
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
    """Metrics of ``arch`` with weights inherited from a supernet after BN recalibration."""
    from supernet.bn import recalibrate_bn
    from train.checkpoint import load_supernet
    from train.data import build_data

    loaded = load_supernet(supernet_path)
    arch = loaded.space.arch_from_json(_read_json(Path(arch_path)))
    bundle = build_data(loaded.data_config, arch.resolution)
    net = loaded.model.extract(arch).to(device)
    calib = loaded.data_config.eval_batch_size
    images = (x.to(device) for x, _ in bundle.eval_loader("calib", calib))
    recalibrate_bn(net, images, calib_images or loaded.data_config.calib_images)
    loader = bundle.eval_loader(split, loaded.data_config.eval_batch_size)
    metrics = evaluate_network(net, arch, loaded.space, loaded.num_classes, loader, device, latency)
    return _describe(metrics, "supernet", str(loaded.path), arch, loaded.space, split)


def evaluate_rank(pairs: str | Path, plot_path: Path, from_run: bool = False) -> dict[str, Any]:
    """Rank fidelity of the pairs in a CSV/JSON file (or, ``from_run``, of a pipeline run's
    retrained architectures: the pairs then go to ``pairs.csv`` beside the plot), with a
    scatter PNG at ``plot_path``."""
    from train.io import atomic_write_text

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

    from evaluate.evaluator import InheritedAccuracyEvaluator
    from evaluate.fidelity import fidelity_report, format_markdown, stratified_sample, write_report
    from evaluate.ground_truth import load_ground_truth
    from supernet.cost import CostModel
    from train.checkpoint import load_supernet
    from train.data import build_data

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


def format_table(result: dict[str, Any]) -> str:
    """Two aligned columns of the scalar entries of ``result``."""
    rows = [(k, v) for k, v in result.items() if not isinstance(v, (dict, list))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(
        f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in rows
    )


# --------------------------------------------------------------------------- Hydra
def run_from_config(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Dispatch on ``cfg.mode``, print the table, write the JSON; returns the result."""
    from omegaconf import OmegaConf

    from train.data import DataConfig

    mode = str(cfg.mode)
    if mode not in MODES:
        raise ConfigError(f"mode is {mode!r}; allowed: {', '.join(MODES)}")
    if str(cfg.split) not in SPLITS:
        raise ConfigError(f"split is {cfg.split!r}; allowed: {', '.join(SPLITS)}")

    out = Path(cfg.out) if cfg.out else run_dir / RESULT_NAME
    latency = LatencyOptions(int(cfg.latency.batch_size), int(cfg.latency.warmup),
                             int(cfg.latency.repeats))  # fmt: skip
    device = pick_device(str(cfg.device))
    if mode == "auto":
        mode = "supernet" if cfg.supernet else "model" if cfg.model else "none"
    if mode == "rank" and cfg.truth:
        if not cfg.supernet:
            raise ConfigError("mode=rank truth=TABLE needs supernet=RUN_DIR_OR_CKPT to score")
        result = evaluate_against_truth(
            cfg.supernet, cfg.truth, out.parent, device, int(cfg.num_archs), cfg.calib_images,
            int(cfg.seed), int(cfg.bootstrap),
            None if cfg.val_images is None else int(cfg.val_images),
        )  # fmt: skip
    elif mode == "rank":
        if not cfg.pairs and not cfg.run:
            raise ConfigError(
                "mode=rank needs pairs=FILE (CSV with columns inherited, retrained[, arch], or "
                "a JSON list of such objects), run=PIPELINE_RUN, or truth=TABLE supernet=RUN to "
                "score a supernet against a ground-truth table"
            )
        plot = Path(cfg.plot) if cfg.plot else out.with_suffix(".png")
        result = evaluate_rank(cfg.run or cfg.pairs, plot, from_run=bool(cfg.run))
    elif mode == "supernet":
        if not cfg.supernet or not cfg.arch:
            raise ConfigError("supernet mode needs supernet=RUN_DIR_OR_CKPT and arch=ARCH_JSON")
        result = evaluate_supernet_arch(
            cfg.supernet, cfg.arch, str(cfg.split), device, latency, cfg.calib_images
        )
    elif mode == "model":
        if not cfg.model:
            raise ConfigError("give model=PATH (model.pt or an export folder)")
        data_cfg = None
        if cfg.get("data") is not None:
            raw = OmegaConf.to_container(cfg.data, resolve=True)
            assert isinstance(raw, dict)
            data_cfg = DataConfig(**{str(k): v for k, v in raw.items()})
        result = evaluate_exported(cfg.model, data_cfg, str(cfg.split), device, latency)
    else:
        raise ConfigError(
            "nothing to evaluate: give model=PATH, supernet=RUN_DIR arch=ARCH_JSON, "
            "or mode=rank pairs=FILE"
        )
    from train.io import atomic_write_text

    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"written: {out}")
    return result


def _task(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig

    run_from_config(cfg, Path(HydraConfig.get().runtime.output_dir))


def main() -> None:
    """``nas-evaluate model=PATH`` / ``supernet=RUN arch=JSON`` / ``mode=rank pairs=FILE``."""
    from train.cli import run_cli

    run_cli("evaluate", _task)


if __name__ == "__main__":
    main()
