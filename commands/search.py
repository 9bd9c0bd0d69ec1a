"""``nas-search`` / ``python -m lamoo_nas.commands.search``: constrained search over a supernet.

The composition root of the search: it reads ``conf/search.yaml`` (+ the ``strategy`` group),
turns it into typed settings (:mod:`commands.settings`) and calls
:func:`evaluate.supernet_search.search_supernet`, which loads the checkpoint and its data.

Examples (shell)::

    nas-search supernet=outputs/train_supernet/RUN budget.macs=2e6
    nas-search supernet=RUN budget.params=60e3 objectives=[accuracy,params] strategy=nsga2
    nas-search supernet=RUN run_dir=outputs/search/RUN2     # resume an interrupted search
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lamoo_nas.commands.runner import plain_config, run_cli, run_dir_for
from lamoo_nas.commands.settings import CommonSettings, from_config, settings_from_plain
from lamoo_nas.evaluate.executor import executor_from_plain
from lamoo_nas.evaluate.search_results import SearchResult, format_front
from lamoo_nas.evaluate.supernet_search import SearchRunOptions, search_supernet
from lamoo_nas.search import SearchError
from lamoo_nas.supernet.errors import NASError


def search_from_plain(
    supernet: str | Path, plain: Mapping[str, Any], run_dir: Path
) -> SearchResult:
    """:func:`search_supernet` with the settings of ``conf/common.yaml`` +
    ``conf/stage/search.yaml`` + the ``strategy`` and ``executor`` groups (what ``nas-search``
    and the pipeline's search stage both hold); rank 0 prints the front."""
    common = from_config(CommonSettings, plain)
    run = from_config(SearchRunOptions, plain)
    result = search_supernet(
        supernet,
        settings_from_plain(plain),
        run_dir,
        calib_images=run.calib_images,
        use_ema=run.use_ema,
        device=common.device,
        data_overrides=run.data or None,
        resume_changes=common.resume_changes,
        latency_table=run.latency_table,
        executor=executor_from_plain(plain.get("executor")),
        num_threads=common.num_threads,
    )
    if result.rank == 0:
        print(format_front(result), flush=True)
    return result


def run(cfg: DictConfig) -> SearchResult:
    """Search the supernet ``cfg.supernet`` as ``cfg`` says; rank 0 prints the front.

    See :func:`evaluate.supernet_search.search_supernet` for what runs under ``torchrun``.
    """
    plain = plain_config(cfg)  # a missing supernet=??? is one line (commands.runner.run_cli)
    return search_from_plain(str(plain["supernet"]), plain, run_dir_for(cfg))


def _task(cfg: DictConfig) -> float:
    return float(run(cfg).summary["hypervolume"])


def main() -> None:
    """Console entry point ``nas-search``."""
    run_cli("search", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
