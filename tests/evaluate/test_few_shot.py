"""Few-shot supernets: the command, what each region trains, routing, search, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.few_shot import (
    FewShotConfig,
    FewShotError,
    fit_learned_partition,
    train_few_shot,
)
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import search_supernet
from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.runtime.distributed import DistContext
from lamoo_nas.runtime.rundir import RunDirError
from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.supernet.few_shot import FewShotSupernet
from lamoo_nas.supernet.partition import ChoicePartition
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.optim import ScheduleConfig
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig

SMALL = ["schedule.epochs=1", "schedule.warmup_epochs=0", "data.max_train_images=128",
         "data.calib_images=64", "progress=false", "tensorboard=false"]  # fmt: skip


def _command(run_dir: Path, *overrides: str):
    from lamoo_nas.commands.train_supernet import run

    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("train_supernet", overrides=[*SMALL, f"run_dir={run_dir}", *overrides])
    return run(cfg)


def _typed(space, resume: str | None = None, **run: object) -> SupernetTrainConfig:
    return SupernetTrainConfig(
        space=space,
        data=DataConfig(max_train_images=128, batch_size=32, calib_images=64),
        schedule=ScheduleConfig(epochs=1, warmup_epochs=0.0),
        run=RunOptions(progress=False, tensorboard=False, device="cpu", resume=resume, **run),  # type: ignore[arg-type]
        resolved={"test": "few_shot"},
    )


@pytest.fixture(scope="module")
def few_run(trained_run, tmp_path_factory) -> Path:
    """nas-train-supernet few_shot=choices: 2 regions (stage 0 depth 1 or 2), 1 epoch each."""
    run_dir = tmp_path_factory.mktemp("few") / "run"
    _command(run_dir, "few_shot=choices", f"few_shot.parent={trained_run}",
             "few_shot.split=[stages.0.depth]", "few_shot.epochs=2")  # fmt: skip
    return run_dir


def test_each_region_trains_only_its_own_architectures(few_run, trained_run) -> None:
    loaded = load_supernet(few_run)
    assert isinstance(loaded.model, FewShotSupernet) and len(loaded.model.members) == 2
    assert loaded.path == few_run / "partition.json"
    parent = load_supernet(trained_run).model.state_dict()
    shallow, deep = (m.state_dict() for m in loaded.model.members)
    second_block = [k for k in parent if k.startswith("stages.0.1.") and k.endswith("weight")]
    assert second_block  # stage 0's second block: used only by depth-2 architectures
    for key in second_block:
        assert torch.equal(shallow[key], parent[key])  # region "depth 1" never trained it
    assert any(not torch.equal(deep[k], parent[k]) for k in second_block)
    first = next(k for k in parent if k.startswith("stages.0.0.") and k.endswith("weight"))
    assert not torch.equal(shallow[first], parent[first])  # and both started from the parent
    assert not torch.equal(shallow[first], deep[first])
    checkpoint = torch.load(few_run / "region1" / "final.pt", weights_only=True)
    assert checkpoint["config"]["few_shot_region"] == {"index": 1, "of": 2}
    assert checkpoint["init_from"]["path"] == str(trained_run) or checkpoint["init_from"]


def test_architectures_are_routed_to_their_region(few_run) -> None:
    few = load_supernet(few_run).model
    assert isinstance(few, FewShotSupernet)
    rng = np.random.default_rng(0)
    x = torch.randn(4, 3, 16, 16)
    for _ in range(6):
        arch = few.space.sample(rng)
        region = arch.stages[0].depth - 1
        member = few.members[region]
        with torch.no_grad():
            expected = member.extract(arch).eval()(
                torch.nn.functional.interpolate(x, arch.resolution)
            )  # type: ignore[operator]
            got = few.extract(arch).eval()(torch.nn.functional.interpolate(x, arch.resolution))
        assert torch.equal(got, expected)


def test_a_few_shot_run_is_searched_like_a_supernet(few_run, tmp_path) -> None:
    settings = SearchSettings(budget=Budget(), num_samples=6, batch_size=3, num_init=3,
                              progress=False)  # fmt: skip
    result = search_supernet(few_run, settings, tmp_path, calib_images=32, use_ema=True,
                             device="cpu")  # fmt: skip
    assert len(result.rows) == 6
    header = json.loads((tmp_path / "accuracy_cache.jsonl").read_text().splitlines()[0])
    assert "partition.json" in json.dumps(header)
    few = load_supernet(few_run)
    bundle = build_data(few.data_config, image_size=max(few.space.resolutions))
    for row in result.rows[:2]:  # each accuracy is its region's sub-supernet's
        assert isinstance(few.model, FewShotSupernet)
        member = few.model.member_for(row.arch)
        alone = InheritedAccuracyEvaluator.from_bundle(
            member, bundle, 32, few.data_config.eval_batch_size
        )
        assert alone.accuracy([row.arch])[0] == pytest.approx(row.accuracy)


def test_a_rerun_resumes_keeps_finished_regions_and_refuses_without_resume(
    few_run, trained_run, tmp_path
) -> None:
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(few_run, run_dir)
    stamp = (run_dir / "region0" / "final.pt").stat().st_mtime_ns
    (run_dir / "region1" / "final.pt").unlink()  # as if killed in region 1 after its last.pt
    with pytest.raises(CheckpointError, match="region 1 has not finished training"):
        load_supernet(run_dir)
    args = ["few_shot=choices", f"few_shot.parent={trained_run}",
            "few_shot.split=[stages.0.depth]", "few_shot.epochs=2"]  # fmt: skip
    with pytest.raises(RunDirError):
        _command(run_dir, *args)
    _command(run_dir, *args, "resume=true")
    assert (run_dir / "region0" / "final.pt").stat().st_mtime_ns == stamp
    assert isinstance(load_supernet(run_dir).model, FewShotSupernet)


def test_bad_few_shot_input_is_named(trained_run, tmp_path) -> None:
    tiny = load_space("tiny")
    ctx = DistContext()
    choices = FewShotConfig(kind="choices", parent=str(trained_run), split=("stages.0.depth",))
    with pytest.raises(FewShotError, match="is a supernet of space 'tiny'"):
        train_few_shot(_typed(load_space("nbmacro")), choices, tmp_path / "a", ctx)
    uneven = FewShotConfig(kind="choices", parent=str(trained_run), split=("stages.0.depth",),
                           epochs=3)  # fmt: skip
    with pytest.raises(ConfigError, match="does not split evenly over 2 regions"):
        train_few_shot(_typed(tiny), uneven, tmp_path / "b", ctx)
    with pytest.raises(ConfigError, match=r"needs few_shot\.parent=RUN"):
        FewShotConfig(kind="learned")
    with pytest.raises(ConfigError, match=r"few_shot\.kind is 'split'"):
        FewShotConfig(kind="split")
    parent = load_supernet(trained_run)
    with pytest.raises(FewShotError, match="cannot make 9 regions"):
        fit_learned_partition(parent, parent.data_config, 9, 20, 16, 0)


def test_a_few_shot_parent_is_refused(few_run, tmp_path) -> None:
    tiny = load_space("tiny")
    few = FewShotConfig(kind="choices", parent=str(few_run), split=("stages.0.depth",))
    with pytest.raises(FewShotError, match="is itself a few-shot run"):
        train_few_shot(_typed(tiny), few, tmp_path / "x", DistContext())


def test_the_learned_split_is_lamoos_tree_on_inherited_accuracy_and_macs(trained_run) -> None:
    parent = load_supernet(trained_run)
    data = parent.data_config
    part = fit_learned_partition(parent, data, 3, 40, 32, seed=0)
    assert part.num_regions == 3 and len(part.region_names) == 3
    assert part.fitted_on["num_archs"] == 40 and "leaf 0:" in part.region_names[0]
    rng = np.random.default_rng(5)
    regions = part.regions_of(
        parent.space.encode_many([parent.space.sample(rng) for _ in range(200)])
    )
    assert set(regions.tolist()) == {0, 1, 2}  # the leaves cover the space
    assert isinstance(ChoicePartition.build(parent.space, ["stages.0.depth"]), ChoicePartition)


def test_sandwich_needs_a_choice_split(trained_run, tmp_path) -> None:
    few = FewShotConfig(kind="learned", parent=str(trained_run), num_regions=2, num_archs=12,
                        calib_images=16, epochs=2)  # fmt: skip
    with pytest.raises(ConfigError, match="sampler=sandwich needs each region's largest"):
        train_few_shot(_typed(load_space("tiny")), few, tmp_path / "l", DistContext())
