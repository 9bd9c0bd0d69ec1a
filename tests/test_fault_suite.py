"""The fault suite: what a new user's mistakes and a machine's failures must never do.

Each test is one case of "nothing lost, nothing silently wrong": a run directory that is not
ours or holds a finished run is refused and left as it was; a resume refuses settings that
differ from its manifest unless told to take them (and then takes them for real); two writers
never share a folder; non-finite or unfinished weights are never searched by accident; a bad
value is one line before any work. Cases that belong to one module live beside it:
misspelt space keys and strict arch JSON (tests/supernet/test_space.py), broken image folders
(tests/runtime/test_data_faults.py), exact search resume (tests/search/test_search_resume.py),
the run-directory mechanism itself (tests/runtime/test_rundir.py).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import re
from pathlib import Path

import pytest
import torch

from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import search_supernet
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.errors import StorageError
from lamoo_nas.runtime.io import atomic_torch_save, atomic_write_text
from lamoo_nas.runtime.rundir import (
    RunConfigChangedError,
    RunDirectory,
    RunDirExistsError,
    RunDirMismatchError,
    RunDirNotEmptyError,
    RunLockedError,
)
from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.train.checkpoint import last_good_state, load_supernet
from lamoo_nas.train.logs import read_metrics
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet

SPACE = load_space("tiny")
DATA = DataConfig(max_train_images=96, batch_size=16, calib_images=32, eval_batch_size=128)


def _config(run_dir: Path | None = None, resume: bool = False, **changes) -> SupernetTrainConfig:
    """A 2-epoch, 6-steps-per-epoch digits run; ``changes`` go to optim/seed/resume_changes."""
    optim = OptimConfig(lr=changes.pop("lr", 6e-3))
    run = RunOptions(
        progress=False,
        tensorboard=False,
        device="cpu",
        checkpoint_every_steps=1,
        seed=changes.pop("seed", 0),
        resume_changes=tuple(changes.pop("resume_changes", ())),
        resume=str(run_dir / "last.pt") if resume and run_dir else None,
    )
    assert not changes
    plain = {"optim": dataclasses.asdict(optim), "seed": run.seed}
    return SupernetTrainConfig(
        space=SPACE,
        data=DATA,
        optim=optim,
        schedule=ScheduleConfig(epochs=2, warmup_epochs=0.5),
        run=run,
        resolved={**plain, "resume_changes": list(run.resume_changes)},
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished")
    torch.manual_seed(0)
    train_supernet(_config(), run_dir)
    return run_dir


def _reopen(run_dir: Path) -> RunDirectory:
    """Open a run directory as its own run would (same config and fingerprints)."""
    manifest = json.loads((run_dir / "run.json").read_text())
    return RunDirectory.open(
        run_dir, manifest["kind"], manifest["config"], manifest["fingerprints"], resume=True
    )


def _stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != ".lock"}


# ----------------------------------------------------------------------------- data lost
def test_a_finished_run_is_not_overwritten_by_a_new_one(finished: Path) -> None:
    before = _stamps(finished)
    with pytest.raises(RunDirExistsError, match=r"already holds a supernet run.*resume=true"):
        train_supernet(_config(), finished)
    assert _stamps(finished) == before


def test_a_users_folder_is_refused_and_its_files_kept(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("mine\n")
    with pytest.raises(RunDirNotEmptyError, match=r"metrics\.csv"):
        train_supernet(_config(), tmp_path)
    assert (tmp_path / "metrics.csv").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_two_writers_never_share_a_run_directory(finished: Path, tmp_path: Path) -> None:
    holder = RunDirectory.open(tmp_path / "search", "search", {}, {}, resume=False)
    try:
        with pytest.raises(RunLockedError, match=r"pid"):
            search_supernet(
                finished,
                SearchSettings(strategy="random", num_samples=4, num_init=2, batch_size=2),
                tmp_path / "search",
                calib_images=16,
                use_ema=True,
                device="cpu",
            )
    finally:
        holder.close()
    with _reopen(finished), pytest.raises(RunLockedError):
        train_supernet(_config(finished, resume=True), finished)


# ----------------------------------------------------------------------------- wrong results
def test_a_resume_with_another_lr_or_seed_is_refused(finished: Path) -> None:
    with pytest.raises(RunConfigChangedError, match=r"optim.lr: 0.006 -> 0.0001.*resume_changes"):
        train_supernet(_config(finished, resume=True, lr=1e-4), finished)
    with pytest.raises(RunConfigChangedError, match=r"seed: 0 -> 1"):
        train_supernet(_config(finished, resume=True, seed=1), finished)


def test_an_accepted_lr_change_is_recorded_and_trains_with_the_new_lr(tmp_path: Path) -> None:
    torch.manual_seed(0)
    first = _config()
    train_supernet(dataclasses.replace(first, schedule=ScheduleConfig(1, 0.5)), tmp_path)
    cfg = _config(tmp_path, resume=True, lr=1e-4, resume_changes=["optim.lr"])
    train_supernet(cfg, tmp_path)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert [(c["key"], c["old"], c["new"]) for c in manifest["changes"]] == [
        ("optim.lr", 0.006, 0.0001)
    ]
    # epoch 2 ran on the new peak lr: the optimizer and the schedule both carry it
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    assert {g["initial_lr"] for g in final["optimizer"]["param_groups"]} == {1e-4}
    assert set(final["scheduler"]["base_values"]) == {1e-4}


def test_a_search_resumed_with_another_supernet_is_refused(finished, tmp_path) -> None:
    settings = SearchSettings(strategy="random", num_samples=4, num_init=2, batch_size=2)
    kwargs = {"calib_images": 16, "use_ema": True, "device": "cpu"}
    search_supernet(finished, settings, tmp_path / "s", **kwargs)
    other = tmp_path / "other"
    torch.manual_seed(1)
    train_supernet(_config(seed=1), other)
    with pytest.raises(RunDirMismatchError, match=r"supernet weights differ"):
        search_supernet(other, settings, tmp_path / "s", **kwargs)


def test_a_tighter_budget_on_resume_is_refused_or_honoured(finished, tmp_path) -> None:
    from lamoo_nas.evaluate.codec import Budget

    settings = SearchSettings(strategy="random", num_samples=6, num_init=2, batch_size=2)
    kwargs = {"calib_images": 16, "use_ema": True, "device": "cpu"}
    first = search_supernet(finished, settings, tmp_path, **kwargs)
    tight = sorted(r.params for r in first.rows)[len(first.rows) // 2]
    tighter = dataclasses.replace(settings, budget=Budget(params=tight))
    with pytest.raises(RunConfigChangedError, match=r"settings.budget.params: null ->"):
        search_supernet(finished, tighter, tmp_path, **kwargs)
    again = search_supernet(
        finished, tighter, tmp_path, resume_changes=["settings.budget"], **kwargs
    )
    assert again.best.params <= tight
    assert all(r.params <= tight for r in again.rows if r.is_pareto)
    best = json.loads((tmp_path / "best_arch.json").read_text())
    assert SPACE.arch_from_json(best) == again.best.arch


def test_non_finite_weights_are_never_searched(finished: Path, tmp_path: Path) -> None:
    ckpt = torch.load(finished / "final.pt", weights_only=True)
    name = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][name] = torch.full_like(ckpt["model"][name], float("nan"))
    atomic_torch_save(ckpt, tmp_path / "final.pt")
    with pytest.raises(CheckpointError, match=r"NaN/inf weights.*cannot be searched"):
        load_supernet(tmp_path / "final.pt")


def test_an_unfinished_run_is_searched_only_when_asked_by_file(finished, tmp_path) -> None:
    (tmp_path / "last.pt").write_bytes((finished / "last.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"has not finished.*resume=true"):
        load_supernet(tmp_path)
    assert load_supernet(tmp_path / "last.pt").step > 0


def test_divergence_advice_says_whether_a_good_checkpoint_exists(finished, tmp_path) -> None:
    assert "No checkpoint was written" in last_good_state(tmp_path, "optim.lr")
    advice = last_good_state(finished, "optim.lr")
    assert "holds the last good state" in advice and "resume_changes=[optim.lr]" in advice


# ----------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=abc", "optim.lr is 'abc'; it must be a number"),
        ("seed=abc", "seed is 'abc'; it must be an integer"),
        ("schedule.epochs=2.5", "schedule.epochs is 2.5; it must be an integer"),
        ("data.batch_size=true", "data.batch_size is True; it must be an integer"),
    ],
)
def test_wrong_types_are_one_line_before_any_work(tmp_path, override, message) -> None:
    from lamoo_nas.commands.train_supernet import build_config
    from tests.train._supernet_config import compose_cfg

    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(compose_cfg(override), tmp_path)
    assert not any(tmp_path.iterdir())


def test_search_values_of_the_wrong_type_are_one_line() -> None:
    from lamoo_nas.commands.settings import settings_from_plain

    base = {"strategy": {"name": "random"}, "objectives": ["accuracy", "macs"],
            "num_samples": 8, "batch_size": 2, "num_init": 2, "seed": 0}  # fmt: skip
    with pytest.raises(ConfigError, match=r"budget.macs is 'abc'"):
        settings_from_plain({**base, "budget": {"macs": "abc"}})
    assert settings_from_plain({**base, "budget": {"macs": "600e3"}}).budget.macs == 600e3


def test_calib_images_zero_fails_before_the_supernet_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"calib_images"):
        search_supernet(tmp_path / "nothing", SearchSettings(), tmp_path, calib_images=0,
                        use_ema=True, device="cpu")  # fmt: skip


def test_a_space_yaml_file_works_on_the_command_line(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_module

    from lamoo_nas.commands.runner import plain_config, space_file_arguments
    from lamoo_nas.commands.settings import supernet_config_from_plain

    mine = tmp_path / "mine.yaml"
    mine.write_text((Path(__file__).parents[1] / "conf" / "space" / "tiny.yaml").read_text())
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("train_supernet", overrides=space_file_arguments([f"space={mine}"]))
    typed = supernet_config_from_plain(plain_config(cfg))
    assert typed.space.fingerprint == SPACE.fingerprint


# ----------------------------------------------------------------------------- the machine
def test_a_full_disk_says_so_and_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = atomic_write_text(tmp_path / "history.json", "old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(StorageError, match=r"no space left on the device"):
        atomic_torch_save({"w": torch.zeros(3)}, tmp_path / "history.json")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


def test_orphaned_temp_files_are_removed_when_a_run_resumes(finished: Path) -> None:
    orphan = finished / ".last.pt.k3j2.tmp"
    orphan.write_bytes(b"half a checkpoint")
    with _reopen(finished):
        pass
    assert not orphan.exists()


def test_an_interrupted_epoch_reports_its_whole_epoch(tmp_path: Path, monkeypatch) -> None:
    from lamoo_nas.train import steps

    torch.manual_seed(0)
    straight = train_supernet(_config(), tmp_path / "straight")
    original = steps.SupernetStep.__call__
    calls = {"n": 0}

    def interrupted(self, images, labels, state):
        calls["n"] += 1
        if calls["n"] == 9:  # step 3 of epoch 2 (6 steps per epoch)
            raise KeyboardInterrupt
        return original(self, images, labels, state)

    monkeypatch.setattr(steps.SupernetStep, "__call__", interrupted)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train_supernet(_config(), tmp_path / "cut")
    monkeypatch.setattr(steps.SupernetStep, "__call__", original)
    train_supernet(_config(tmp_path / "cut", resume=True), tmp_path / "cut")
    cut, whole = read_metrics(tmp_path / "cut"), read_metrics(tmp_path / "straight")
    assert [r["epoch"] for r in cut] == [r["epoch"] for r in whole]
    assert [r["train_loss"] for r in cut] == [r["train_loss"] for r in whole]
    assert straight.metrics["train_loss"] == cut[-1]["train_loss"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nas-evaluate", "mode=rank", "num_archs=abc"], "num_archs is 'abc'"),
        (["nas-evaluate", "supernet=x", "arch=y", "calib_images=0"], "calib_images must be"),
        (["nas-predict", "model=m", "input=i", "top_k=two"], "top_k is 'two'"),
        (["nas-search", "supernet=x", "budget.macs=abc"], "budget.macs is 'abc'"),
    ],
)
def test_every_command_types_its_settings_in_one_line(tmp_path, monkeypatch, argv, message):
    from lamoo_nas.commands import evaluate, predict, search

    main = {"nas-evaluate": evaluate.main, "nas-predict": predict.main, "nas-search": search.main}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [*argv, f"hydra.run.dir={tmp_path / 'h'}"])
    with pytest.raises(SystemExit) as info:
        main[argv[0]]()
    text = str(info.value.code)
    assert text.startswith("error:") and message in text and "\n" not in text


def test_a_refused_command_leaves_the_folder_exactly_as_it_was(tmp_path, monkeypatch) -> None:
    from lamoo_nas.commands.train_supernet import main

    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.csv").write_text("mine\n")
    monkeypatch.setattr("sys.argv", ["nas-train-supernet", f"run_dir={mine}", "progress=false"])
    with pytest.raises(SystemExit, match="not empty and is not a run directory"):
        main()
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.csv"]  # no .hydra, log or lock

    done = tmp_path / "done"
    small = ["schedule.epochs=1", "data.max_train_images=32", "data.batch_size=16"]
    argv = ["nas-train-supernet", f"run_dir={done}", "progress=false", "tensorboard=false"]
    monkeypatch.setattr("sys.argv", [*argv, *small])
    main()
    recorded = (done / ".hydra" / "overrides.yaml").read_text()
    monkeypatch.setattr("sys.argv", [*argv, *small, "seed=5"])
    with pytest.raises(SystemExit, match="already holds a supernet run"):
        main()
    assert (done / ".hydra" / "overrides.yaml").read_text() == recorded  # not the refused one's


def test_a_run_from_before_manifests_is_adopted_on_resume(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(_config(), schedule=ScheduleConfig(1, 0.5))
    train_supernet(cfg, tmp_path)
    (tmp_path / "run.json").unlink()  # as written by the version before run directories
    with pytest.raises(RunConfigChangedError, match=r"optim\.lr: 0\.006 -> 0\.0001"):
        train_supernet(dataclasses.replace(_config(tmp_path, True, lr=1e-4), schedule=cfg.schedule),
                       tmp_path)  # fmt: skip
    assert not (tmp_path / "run.json").exists()  # a refused adoption writes nothing
    train_supernet(dataclasses.replace(_config(tmp_path, resume=True), schedule=cfg.schedule),
                   tmp_path)  # fmt: skip
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["adopted"] is True and manifest["status"] == "finished"


def test_a_retrain_run_from_before_manifests_is_adopted_on_resume(tmp_path: Path) -> None:
    from lamoo_nas.evaluate.retrain import FinishOptions, retrain_and_export
    from tests.train._retrain_setup import DATA, OPTIONS, tiny_recipe

    finish = FinishOptions(export=False, latency_warmup=0, latency_repeats=1)
    first = retrain_and_export(SPACE.smallest(), SPACE, DATA, tiny_recipe(), tmp_path, OPTIONS,
                               finish)  # fmt: skip
    (tmp_path / "run.json").unlink()
    (tmp_path / "metrics.json").unlink()  # cut off before its end, by the version before
    again = retrain_and_export(SPACE.smallest(), SPACE, DATA, tiny_recipe(), tmp_path,
                               dataclasses.replace(OPTIONS, resume=True), finish)  # fmt: skip
    assert again.metrics["steps"] == first.metrics["steps"]  # resumed, not trained again
    assert json.loads((tmp_path / "run.json").read_text())["adopted"] is True
    with pytest.raises(RunConfigChangedError, match=r"arch\."):
        retrain_and_export(SPACE.largest(), SPACE, DATA, tiny_recipe(), tmp_path,
                           dataclasses.replace(OPTIONS, resume=True), finish)  # fmt: skip


# ----------------------------------------------------------------------------- round three
@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("nas-train-supernet", ["run_dir={file}"], "run_dir={file} is a file, not a folder"),
        ("nas-train-supernet", ["run_dir={file}/run"], "lies under {file}, which is a file"),
        ("nas-search", ["supernet=x", "hydra.run.dir={file}"], "hydra.run.dir={file} is a file"),
        ("nas-search", ["supernet=x", "space=my/space.yaml"], "nas-search has no setting 'space'"),
        ("nas-search", ["supernet=x", "strategy=nope"], "Could not find 'strategy/nope'"),
        ("nas-train-supernet", ["seed=[1"], "no viable alternative at input '[1'"),
    ],
)
def test_an_argv_hydra_would_fail_on_is_one_line_before_any_folder(
    tmp_path, monkeypatch, command, args, message
) -> None:
    from lamoo_nas.commands import search, train_supernet

    main = {"nas-train-supernet": train_supernet.main, "nas-search": search.main}[command]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("mine\n")
    file = str(tmp_path / "file")
    monkeypatch.setattr("sys.argv", [command, *(a.format(file=file) for a in args)])
    with pytest.raises(SystemExit) as info:
        main()
    text = str(info.value.code)
    assert text.startswith("error:") and message.format(file=file) in text and "\n" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no outputs/, no .hydra


def test_a_command_refused_after_hydra_started_leaves_no_trace(tmp_path, monkeypatch) -> None:
    from lamoo_nas.commands.train_supernet import main

    monkeypatch.chdir(tmp_path)
    new = tmp_path / "new"
    monkeypatch.setattr("sys.argv", ["nas-train-supernet", f"run_dir={new}", "optim.lr=abc"])
    with pytest.raises(SystemExit, match=r"optim\.lr is 'abc'"):
        main()
    assert not new.exists()  # not even the .hydra/ and log Hydra made before our check


def _corrupt(ckpt: dict, change: str) -> None:
    if change == "data_config_extra_key":
        ckpt["data_config"] = {**ckpt["data_config"], "colour": "red"}
    elif change == "num_classes_text":
        ckpt["num_classes"] = "ten"
    elif change == "num_classes_float":
        ckpt["num_classes"] = 10.5
    elif change == "config_data_batch_size":
        ckpt["config"] = {**ckpt["config"], "data": {"batch_size": "many"}}
    elif change == "model_options_extra_key":
        ckpt["model_options"] = {"widen": True}
    elif change == "negative_epoch":
        ckpt["epoch"] = -1
    elif change == "space_not_a_mapping":
        ckpt["space"] = "tiny"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("data_config_extra_key", "data_config.colour is not a setting"),
        ("num_classes_text", "num_classes is 'ten'; it must be an integer"),
        ("num_classes_float", "num_classes is 10.5; it must be an integer"),
        ("config_data_batch_size", "config.data.batch_size is 'many'"),
        ("model_options_extra_key", "widen is not a setting"),
        ("negative_epoch", "epoch is -1; it must be >= 0"),
        ("space_not_a_mapping", "space is 'tiny'; it must be a mapping"),
    ],
)
def test_checkpoint_metadata_is_checked_like_the_command_line(finished, tmp_path, change, field):
    ckpt = torch.load(finished / "final.pt", weights_only=True)
    _corrupt(ckpt, change)
    atomic_torch_save(ckpt, tmp_path / "final.pt")
    with pytest.raises(CheckpointError) as info:
        load_supernet(tmp_path)
    assert f"checkpoint {tmp_path / 'final.pt'}: " in str(info.value)
    assert field in str(info.value)


def test_a_resume_from_a_corrupted_checkpoint_is_refused_before_any_write(finished, tmp_path):
    for name in ("run.json", "last.pt"):
        (tmp_path / name).write_bytes((finished / name).read_bytes())
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    _corrupt(ckpt, "num_classes_text")
    atomic_torch_save(ckpt, tmp_path / "last.pt")
    before = _stamps(tmp_path)
    with pytest.raises(CheckpointError, match=r"last\.pt: num_classes is 'ten'"):
        train_supernet(_config(tmp_path, resume=True), tmp_path)
    assert _stamps(tmp_path) == before


def test_a_history_with_fields_of_the_wrong_type_names_them(tmp_path: Path) -> None:
    from lamoo_nas.search import SearchHistory
    from lamoo_nas.search.errors import HistoryMismatchError
    from lamoo_nas.search.history import Evaluation

    history = SearchHistory(["accuracy", "neg_macs"], [0.0, -2.0])
    history.append(Evaluation({"a": 1}, [0.5], [90.0, -1.0], "random", 0, 0.1, 0.2))
    history.save(tmp_path / "history.json")
    payload = json.loads((tmp_path / "history.json").read_text())
    payload["evaluations"][0]["objectives"] = ["90", -1.0]
    (tmp_path / "history.json").write_text(json.dumps(payload))
    with pytest.raises(HistoryMismatchError, match=r"history\.json: evaluations\[0\]\.objectives"):
        SearchHistory.load(tmp_path / "history.json")
    (tmp_path / "history.json").write_text("[1, 2]")
    with pytest.raises(HistoryMismatchError, match=r"not a search history"):
        SearchHistory.load(tmp_path / "history.json")


def test_history_files_have_the_mode_of_every_other_output(tmp_path: Path) -> None:
    from lamoo_nas.search import SearchHistory

    SearchHistory(["accuracy"], [0.0]).save(tmp_path / "history.json")
    atomic_write_text(tmp_path / "other.json", "{}")
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["history.json"] == modes["history.csv"] == modes["other.json"]


@pytest.mark.parametrize("target", ["text", "recipe"])
def test_an_arch_json_whose_space_is_no_space_is_told_so(tmp_path, target) -> None:
    from lamoo_nas.commands.retrain import _arch_and_space
    from lamoo_nas.supernet.errors import SpaceDefinitionError

    conf = Path(__file__).parents[1] / "conf"
    pointed = tmp_path / "hostname"
    pointed.write_text("myhost\n")
    if target == "recipe":
        pointed = conf / "recipe" / "digits.yaml"
    arch = {**SPACE.arch_to_json(SPACE.smallest()), "space": str(pointed)}
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    with pytest.raises(SpaceDefinitionError) as info:
        _arch_and_space({"arch": str(tmp_path / "arch.json"), "space": None})
    text = str(info.value)
    assert f"arch file {tmp_path / 'arch.json'}: its space field" in text
    assert f"{pointed} is not a search-space definition" in text
    assert "did you mean" not in text and "got str" not in text


def _optim_config(run_dir, optim, epochs, resume_changes=(), resume=True):
    """``_config`` with another optimizer and length (both recorded in the resolved config)."""
    cfg = _config(run_dir, resume=resume, resume_changes=resume_changes)
    plain = {**cfg.resolved, "optim": dataclasses.asdict(optim), "schedule": {"epochs": epochs}}
    return dataclasses.replace(
        cfg, optim=optim, schedule=ScheduleConfig(epochs, 0.5), resolved=plain
    )


def test_an_optimizer_change_on_resume_starts_its_state_fresh_and_says_so(tmp_path, capsys):
    torch.manual_seed(0)
    train_supernet(_optim_config(None, OptimConfig(), 1, resume=False), tmp_path)
    sgd = OptimConfig(name="sgd", lr=0.05)
    with pytest.raises(RunConfigChangedError, match=r"optim\.name: \"adamw\" -> \"sgd\""):
        train_supernet(_optim_config(tmp_path, sgd, 2, ["schedule"]), tmp_path)
    train_supernet(_optim_config(tmp_path, sgd, 2, ["optim", "schedule"]), tmp_path)
    assert "optimizer state is AdamW's and this run uses SGD" in capsys.readouterr().out
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    assert final["optimizer_class"] == "SGD" and final["epoch"] == 2
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"]["optim"]["name"] == "sgd" and manifest["status"] == "finished"
    assert ("optim.name", "adamw", "sgd") in [(c["key"], c["old"], c["new"]) for c in
                                             manifest["changes"]]  # fmt: skip


def test_a_resume_that_fails_before_saving_leaves_the_manifest_as_the_weights(
    tmp_path, monkeypatch
) -> None:
    from lamoo_nas.train import steps

    torch.manual_seed(0)
    train_supernet(_optim_config(None, OptimConfig(), 1, resume=False), tmp_path)
    before = json.loads((tmp_path / "run.json").read_text())

    def broken(self, images, labels, state):
        raise RuntimeError("the machine failed")

    monkeypatch.setattr(steps.SupernetStep, "__call__", broken)
    changed = _optim_config(tmp_path, OptimConfig(lr=1e-4), 2, ["optim.lr", "schedule"])
    with pytest.raises(RuntimeError, match="the machine failed"):
        train_supernet(changed, tmp_path)
    monkeypatch.undo()
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"] == before["config"] and manifest["changes"] == []
    # so the old settings resume without resume_changes, and the run says what it trained with
    train_supernet(_optim_config(tmp_path, OptimConfig(), 1), tmp_path)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"] == before["config"] and manifest["changes"] == []
    assert manifest["status"] == "finished" and "pending" not in manifest


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_that_failed_before_its_first_checkpoint_starts_afresh(
    tmp_path, monkeypatch, capsys, resume
) -> None:
    from lamoo_nas.train import hooks

    def full(obj, path):
        raise StorageError(f"could not write {path}: no space left on the device")

    monkeypatch.setattr(hooks, "atomic_torch_save", full)
    cfg = _optim_config(None, OptimConfig(), 1, resume=False)
    with pytest.raises(StorageError):
        train_supernet(cfg, tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    assert not (tmp_path / "last.pt").exists()
    monkeypatch.undo()
    again = _optim_config(tmp_path, OptimConfig(lr=1e-3), 1, resume=resume)  # other settings
    train_supernet(again, tmp_path)
    assert "stopped before it saved any state" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["config"]["optim"]["lr"] == 1e-3
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1]


def test_an_infeasible_budget_is_refused_before_the_folder_is_touched(finished, tmp_path):
    from lamoo_nas.evaluate.codec import Budget
    from lamoo_nas.search.errors import InfeasibleBudgetError

    low = SearchSettings(strategy="random", num_samples=4, num_init=2, batch_size=2,
                         budget=Budget(macs=1000))  # fmt: skip
    kwargs = {"calib_images": 16, "use_ema": True, "device": "cpu"}
    with pytest.raises(InfeasibleBudgetError, match=r"raise the budget"):
        search_supernet(finished, low, tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()


def test_a_budget_above_the_largest_subnet_searches_as_no_budget(finished, tmp_path, capsys):
    from lamoo_nas.evaluate.codec import Budget

    settings = SearchSettings(strategy="lamoo", num_samples=6, num_init=4, batch_size=2)
    kwargs = {"calib_images": 16, "use_ema": True, "device": "cpu"}
    plain = search_supernet(finished, settings, tmp_path / "plain", **kwargs)
    huge = dataclasses.replace(settings, budget=Budget(macs=1e30, params=1e30))
    slack = search_supernet(finished, huge, tmp_path / "huge", **kwargs)
    assert [r.arch for r in slack.rows] == [r.arch for r in plain.rows]
    assert slack.summary["ref_point"] == plain.summary["ref_point"]
    assert slack.summary["hypervolume"] == plain.summary["hypervolume"]
    assert "budget.macs=1e+30 constrains nothing" in capsys.readouterr().out
    more = dataclasses.replace(huge, num_samples=8)  # and a resumed search says so
    search_supernet(finished, more, tmp_path / "huge", **kwargs)
    assert "resuming the finished search" in capsys.readouterr().out


def test_a_search_that_failed_before_its_history_reruns_with_new_settings(
    finished, tmp_path, monkeypatch, capsys
) -> None:
    from lamoo_nas.evaluate import supernet_search
    from lamoo_nas.evaluate.codec import Budget

    settings = SearchSettings(strategy="random", num_samples=4, num_init=2, batch_size=2)
    kwargs = {"calib_images": 16, "use_ema": True, "device": "cpu"}

    def full(*args, **kwargs):
        raise StorageError("could not write history.json: no space left on the device")

    monkeypatch.setattr(supernet_search, "run_search", full)
    with pytest.raises(StorageError):
        search_supernet(finished, settings, tmp_path, **kwargs)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    monkeypatch.undo()
    other = dataclasses.replace(settings, budget=Budget(macs=600e3))  # no resume_changes
    result = search_supernet(finished, other, tmp_path, **kwargs)
    assert "stopped before it saved any state" in capsys.readouterr().out
    assert all(r.macs <= 600e3 for r in result.rows) and len(result.rows) == 4


def test_a_retrain_that_failed_before_its_first_checkpoint_resumes_as_a_fresh_start(
    tmp_path, monkeypatch
) -> None:
    from lamoo_nas.evaluate.retrain import FinishOptions, retrain_and_export
    from lamoo_nas.train import hooks
    from tests.train._retrain_setup import DATA, OPTIONS, tiny_recipe

    def full(obj, path):
        raise StorageError(f"could not write {path}: no space left on the device")

    finish = FinishOptions(export=False, latency_warmup=0, latency_repeats=1)
    monkeypatch.setattr(hooks, "atomic_torch_save", full)
    with pytest.raises(StorageError):
        retrain_and_export(SPACE.smallest(), SPACE, DATA, tiny_recipe(), tmp_path, OPTIONS,
                           finish)  # fmt: skip
    monkeypatch.undo()
    again = retrain_and_export(SPACE.smallest(), SPACE, DATA, tiny_recipe(), tmp_path,
                               dataclasses.replace(OPTIONS, resume=True), finish)  # fmt: skip
    assert again.metrics["steps"] > 0
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "finished"
