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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.measure import (
    LatencyOptions,
    evaluate_against_truth,
    evaluate_exported,
    evaluate_rank,
    evaluate_supernet_arch,
)
from lamoo_nas.runtime.distributed import pick_device
from lamoo_nas.supernet.errors import ConfigError

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
@dataclass(frozen=True)
class EvaluateSettings:
    """The settings of ``conf/evaluate.yaml`` (besides the ``data`` group), with their defaults;
    the YAML mirrors them (``tests/test_config_defaults.py`` checks it).

    Example:
        >>> EvaluateSettings(model="export").split
        'test'
    """

    mode: str = "auto"  # auto, model, supernet, rank
    model: str | None = None  # exported model.pt or its export folder
    supernet: str | None = None  # supernet run dir or checkpoint
    arch: str | None = None  # arch JSON (supernet mode)
    split: str = "test"  # test | val
    device: str = "auto"
    calib_images: int | None = None  # None: the supernet's data config
    num_threads: int | None = 1
    pairs: str | None = None  # rank mode: CSV or JSON of (inherited, retrained) pairs
    run: str | None = None  # rank mode: a nas-pipeline run dir
    truth: str | None = None  # rank mode: a ground-truth table (needs supernet)
    num_archs: int = 100  # rank mode with truth: architectures scored
    seed: int = 0  # rank mode with truth: which architectures, and the bootstrap
    bootstrap: int = 1000  # rank mode with truth: resamples behind the 95 % intervals
    val_images: int | None = None  # rank mode with truth: images scored (None: val only)
    plot: str | None = None  # rank mode: scatter PNG (None: next to out)
    out: str | None = None  # result JSON (None: <run dir>/evaluation.json)
    latency: LatencyOptions = field(default_factory=LatencyOptions)


def run_from_config(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Type-check the settings (:class:`EvaluateSettings`), dispatch on the mode, print the
    table, write the JSON; returns the result."""
    from lamoo_nas.commands.runner import plain_config
    from lamoo_nas.runtime.io import atomic_write_text
    from lamoo_nas.runtime.schema import build

    plain = plain_config(cfg)
    data = plain.pop("data", None)
    settings = build(EvaluateSettings, plain, "")
    if settings.calib_images is not None and settings.calib_images < 1:
        raise ConfigError(
            f"calib_images must be a positive integer or null, got {settings.calib_images}"
        )
    if settings.mode not in MODES:
        raise ConfigError(f"mode is {settings.mode!r}; allowed: {', '.join(MODES)}")
    if settings.split not in SPLITS:
        raise ConfigError(f"split is {settings.split!r}; allowed: {', '.join(SPLITS)}")
    out = Path(settings.out) if settings.out else run_dir / RESULT_NAME
    result = _evaluate(settings, data, out)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"written: {out}")
    return result


def _evaluate(settings: EvaluateSettings, data: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """The result of the mode ``settings`` asks for (``out``: where the JSON goes; the rank
    plots go beside it)."""
    from lamoo_nas.runtime.data import DataConfig
    from lamoo_nas.runtime.schema import build

    device = pick_device(settings.device)
    mode = settings.mode
    if mode == "auto":
        mode = "supernet" if settings.supernet else "model" if settings.model else "none"
    if mode == "rank" and settings.truth:
        if not settings.supernet:
            raise ConfigError("mode=rank truth=TABLE needs supernet=RUN_DIR_OR_CKPT to score")
        return evaluate_against_truth(
            settings.supernet,
            settings.truth,
            out.parent,
            device,
            settings.num_archs,
            settings.calib_images,
            settings.seed,
            settings.bootstrap,
            settings.val_images,
        )
    if mode == "rank":
        if not settings.pairs and not settings.run:
            raise ConfigError(
                "mode=rank needs pairs=FILE (CSV with columns inherited, retrained[, arch], or "
                "a JSON list of such objects), run=PIPELINE_RUN, or truth=TABLE supernet=RUN to "
                "score a supernet against a ground-truth table"
            )
        plot = Path(settings.plot) if settings.plot else out.with_suffix(".png")
        return evaluate_rank(
            settings.run or settings.pairs or "", plot, from_run=bool(settings.run)
        )
    if mode == "supernet":
        if not settings.supernet or not settings.arch:
            raise ConfigError("supernet mode needs supernet=RUN_DIR_OR_CKPT and arch=ARCH_JSON")
        return evaluate_supernet_arch(
            settings.supernet,
            settings.arch,
            settings.split,
            device,
            settings.latency,
            settings.calib_images,
        )
    if mode == "model":
        if not settings.model:
            raise ConfigError("give model=PATH (model.pt or an export folder)")
        data_cfg = (
            None
            if data is None
            else build(DataConfig, {str(k): v for k, v in data.items()}, "data")
        )
        return evaluate_exported(settings.model, data_cfg, settings.split, device, settings.latency)
    raise ConfigError(
        "nothing to evaluate: give model=PATH, supernet=RUN_DIR arch=ARCH_JSON, "
        "or mode=rank pairs=FILE"
    )


def _task(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig

    run_from_config(cfg, Path(HydraConfig.get().runtime.output_dir))


def main() -> None:
    """``nas-evaluate model=PATH`` / ``supernet=RUN arch=JSON`` / ``mode=rank pairs=FILE``."""
    from lamoo_nas.commands.runner import run_cli

    run_cli("evaluate", _task)


if __name__ == "__main__":
    main()
