"""``nas-search`` / ``python -m lamoo_nas.evaluate.search``: constrained search over a supernet.

The composition root of the search: it reads ``conf/search.yaml`` (+ the ``strategy`` group),
turns it into typed settings (:func:`evaluate.search_settings.settings_from_plain`) and calls
:func:`evaluate.supernet_search.search_supernet`, which loads the checkpoint and its data.

Examples (shell)::

    nas-search supernet=outputs/train_supernet/RUN budget.macs=2e6
    nas-search supernet=RUN budget.params=60e3 objectives=[accuracy,params] strategy=nsga2
    nas-search supernet=RUN run_dir=outputs/search/RUN2     # resume an interrupted search
"""

from __future__ import annotations

from omegaconf import DictConfig

from lamoo_nas.evaluate.search_results import SearchResult
from lamoo_nas.evaluate.supernet_search import search_from_plain
from lamoo_nas.search import SearchError
from lamoo_nas.supernet.errors import NASError
from lamoo_nas.train.cli import plain_config, run_cli, run_dir_for


def run(cfg: DictConfig) -> SearchResult:
    """Search the supernet ``cfg.supernet`` as ``cfg`` says; rank 0 prints the front.

    See :func:`evaluate.supernet_search.search_supernet` for what runs under ``torchrun``.
    """
    plain = plain_config(cfg)  # a missing supernet=??? is one line (train.cli.run_cli)
    return search_from_plain(str(plain["supernet"]), plain, run_dir_for(cfg))


def _task(cfg: DictConfig) -> float:
    return float(run(cfg).summary["hypervolume"])


def main() -> None:
    """Console entry point ``nas-search``."""
    run_cli("search", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
