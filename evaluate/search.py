"""``nas-search`` / ``python -m evaluate.search``: constrained search over a trained supernet.

The composition root of the search: it reads ``conf/search.yaml`` (+ the ``strategy`` group),
turns it into typed settings (:func:`evaluate.search_settings.settings_from_plain`) and calls
:func:`evaluate.supernet_search.search_supernet`, which loads the checkpoint and its data.

Examples (shell)::

    nas-search supernet=outputs/train_supernet/RUN budget.macs=2e6
    nas-search supernet=RUN budget.params=60e3 objectives=[accuracy,params] strategy=nsga2
    nas-search supernet=RUN run_dir=outputs/search/RUN2     # resume an interrupted search
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from evaluate.search_results import SearchResult, format_front
from evaluate.search_settings import settings_from_plain
from evaluate.supernet_search import search_supernet
from search import SearchError
from supernet.errors import NASError
from train.cli import run_cli


def run(cfg: DictConfig) -> SearchResult:
    """Search the supernet ``cfg.supernet`` as ``cfg`` says; rank 0 prints the front.

    See :func:`evaluate.supernet_search.search_supernet` for what runs under ``torchrun``.
    """
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # supernet=???
    assert isinstance(resolved, dict)
    result = search_supernet(
        str(resolved["supernet"]),
        settings_from_plain(resolved),
        _run_dir(cfg),
        calib_images=resolved["calib_images"],
        use_ema=bool(resolved["use_ema"]),
        device=str(resolved["device"]),
        data_overrides=resolved.get("data") or None,
        resume_changes=tuple(resolved.get("resume_changes") or ()),
    )
    if result.rank == 0:
        print(format_front(result))
    return result


def _run_dir(cfg: DictConfig) -> Path:
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _task(cfg: DictConfig) -> float:
    return float(run(cfg).summary["hypervolume"])


def main() -> None:
    """Console entry point ``nas-search``."""
    run_cli("search", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
