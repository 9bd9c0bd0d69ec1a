"""The on-disk layout of a few-shot supernet run, and loading it.

A few-shot run directory holds ``run.json`` (kind ``few_shot``), ``partition.json`` (the split,
:mod:`supernet.partition`) and one ordinary supernet run per region, ``region0/``,
``region1/``, ... (each started from the parent one-shot supernet's weights). It is trained by
``nas-train-supernet few_shot=...`` (:mod:`evaluate.few_shot`) and loaded by
:func:`train.checkpoint.load_supernet` like one supernet: the model is a
:class:`supernet.few_shot.FewShotSupernet` that routes each architecture to its region's
sub-supernet.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lamoo_nas.supernet.errors import CheckpointError
from lamoo_nas.supernet.few_shot import FewShotSupernet
from lamoo_nas.supernet.model import Supernet
from lamoo_nas.supernet.partition import partition_from_json
from lamoo_nas.supernet.space import SearchSpace

if TYPE_CHECKING:
    from lamoo_nas.train.checkpoint import LoadedSupernet

PARTITION_NAME = "partition.json"


def region_dir(run_dir: str | Path, region: int) -> Path:
    return Path(run_dir) / f"region{region}"


def is_few_shot_run(path: str | Path) -> bool:
    """True for a few-shot run directory (or its ``partition.json``)."""
    path = Path(path)
    return (path.is_dir() and (path / PARTITION_NAME).is_file()) or path.name == PARTITION_NAME


def load_few_shot(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    use_ema: bool = True,
    expected_space: SearchSpace | None = None,
) -> LoadedSupernet:
    """Every region's final weights and the partition, as one :class:`LoadedSupernet` whose
    ``path`` is the run's ``partition.json``; a region that has not finished is refused, naming
    it and the command that finishes it."""
    from lamoo_nas.train.checkpoint import FINAL_NAME, LoadedSupernet, load_supernet

    run_dir = Path(path).parent if Path(path).name == PARTITION_NAME else Path(path)
    members = []
    k = 0
    loaded = []
    while region_dir(run_dir, k).is_dir():
        folder = region_dir(run_dir, k)
        if not (folder / FINAL_NAME).is_file():
            raise CheckpointError(
                f"few-shot run {run_dir}: region {k} has not finished training ({folder} holds "
                f"no {FINAL_NAME}); rerun the same nas-train-supernet few_shot=... command with "
                f"run_dir={run_dir} resume=true to finish it"
            )
        loaded.append(load_supernet(folder, map_location, use_ema, expected_space))
        member = loaded[-1].model
        if not isinstance(member, Supernet):
            raise CheckpointError(f"{folder} is itself a few-shot run; regions hold one supernet")
        members.append(member)
        k += 1
    if not loaded:
        raise CheckpointError(f"few-shot run {run_dir} has no trained region (no region0/)")
    space = loaded[0].space
    text = (run_dir / PARTITION_NAME).read_text()
    partition = partition_from_json(text, space, str(run_dir / PARTITION_NAME))
    if partition.num_regions != len(members):
        raise CheckpointError(
            f"few-shot run {run_dir}: its partition has {partition.num_regions} regions but "
            f"{len(members)} were trained; rerun the few-shot training with resume=true"
        )
    model = FewShotSupernet(partition, members).to(map_location).eval()
    first = loaded[0]
    return LoadedSupernet(
        model=model,
        space=space,
        num_classes=first.num_classes,
        data_config=first.data_config,
        config=first.config,
        path=run_dir / PARTITION_NAME,
        epoch=min(part.epoch for part in loaded),
        step=sum(part.step for part in loaded),
    )
