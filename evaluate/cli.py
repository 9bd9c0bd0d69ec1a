"""``nas-evaluate``: accuracy, MACs, params and latency of an exported model or of a supernet
architecture, or the rank fidelity of inherited vs retrained accuracies. Hydra app
``conf/evaluate.yaml``; prints a table and writes JSON. The measurements themselves are
:mod:`evaluate.measure`.

Examples (shell)::

    nas-evaluate model=outputs/retrain/RUN/export                  # test split, digits
    nas-evaluate model=export/model.pt split=val data=cifar10 data.root=data/cifar
    nas-evaluate supernet=outputs/train_supernet/RUN arch=arch.json # inherited weights + BN recal
    nas-evaluate mode=rank pairs=pairs.csv                         # Kendall tau, Spearman, PNG
    nas-evaluate mode=rank supernet=RUN truth=nas-bench-macro_cifar10.json num_archs=100
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.measure import (
    LatencyOptions,
    evaluate_against_truth,
    evaluate_exported,
    evaluate_rank,
    evaluate_supernet_arch,
)
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.distributed import pick_device

MODES = ("auto", "model", "supernet", "rank")
SPLITS = ("test", "val")
RESULT_NAME = "evaluation.json"


def format_table(result: dict[str, Any]) -> str:
    """Two aligned columns of the scalar entries of ``result``."""
    rows = [(k, v) for k, v in result.items() if not isinstance(v, (dict, list))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(
        f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in rows
    )


# --------------------------------------------------------------------------- Hydra
PATH_SETTINGS = ("model", "supernet", "arch", "pairs", "run", "truth", "plot", "out")
PATH_SETTINGS = ("model", "supernet", "arch", "pairs", "run", "truth", "plot", "out")
SETTING_TYPES: dict[str, Any] = {
    **dict.fromkeys(("mode", "split", "device"), str),
    **dict.fromkeys(PATH_SETTINGS, str | None),
    **dict.fromkeys(("calib_images", "val_images", "num_threads"), int | None),
    **dict.fromkeys(("num_archs", "seed", "bootstrap"), int),
    **dict.fromkeys(("latency.batch_size", "latency.warmup", "latency.repeats"), int),
}
"""The type of every setting of conf/evaluate.yaml (checked before any work)."""


def run_from_config(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Dispatch on ``cfg.mode``, print the table, write the JSON; returns the result."""
    from omegaconf import OmegaConf

    from lamoo_nas.train.cli import plain_config
    from lamoo_nas.train.data import DataConfig
    from lamoo_nas.train.schema import check_types

    check_types(plain_config(cfg), SETTING_TYPES)
    if cfg.calib_images is not None and int(cfg.calib_images) < 1:
        raise ConfigError(
            f"calib_images must be a positive integer or null, got {cfg.calib_images}"
        )

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
    from lamoo_nas.train.io import atomic_write_text

    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"written: {out}")
    return result


def _task(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig

    run_from_config(cfg, Path(HydraConfig.get().runtime.output_dir))


def main() -> None:
    """``nas-evaluate model=PATH`` / ``supernet=RUN arch=JSON`` / ``mode=rank pairs=FILE``."""
    from lamoo_nas.train.cli import run_cli

    run_cli("evaluate", _task)


if __name__ == "__main__":
    main()
