"""bench/gpu/check.py on CPU: the dry run checks every step's command, imports and inputs, and
names what is wrong; the real run refuses to start without a GPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from bench.gpu.check import (
    CIFAR_TOOL,
    TABLE,
    CheckError,
    Settings,
    Step,
    check_step,
    dry_run,
    main,
    plan,
    run_steps,
    write_summary,
)


def _settings(tmp_path: Path, table: bool = True) -> Settings:
    shared = tmp_path / "shared"
    (shared / CIFAR_TOOL).parent.mkdir(parents=True)
    (shared / CIFAR_TOOL).write_text("")
    if table:
        (shared / TABLE).parent.mkdir(parents=True)
        (shared / TABLE).write_text("{}")
    return Settings(out=tmp_path / "out", shared=shared, cifar_root=tmp_path / "cifar")


def _argv(s: Settings) -> list[str]:
    return ["--out", str(s.out), "--shared", str(s.shared), "--cifar-root", str(s.cifar_root)]


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[Settings, list, list[str]]:
    settings = _settings(tmp_path_factory.mktemp("check"))
    outcomes, problems = dry_run(settings)
    return settings, outcomes, problems


def test_the_dry_run_checks_every_step_and_writes_nothing(checked, capsys) -> None:
    settings, outcomes, problems = checked
    assert problems == []
    assert [o.name for o in outcomes] == [step.name for step in plan(settings)]
    assert {o.status for o in outcomes} == {"planned"}
    assert not any(settings.out.iterdir())  # created, probed, left empty
    names = {step.name for step in plan(settings)}
    assert {"gpu_tests", "throughput", "nbmacro_supernet", "rank_fidelity"} <= names
    assert "latency_table" in names


def test_the_dry_run_exits_nonzero_naming_a_missing_input(tmp_path, capsys) -> None:
    settings = _settings(tmp_path, table=False)
    assert main(["--dry-run", *_argv(settings)]) == 1
    out = capsys.readouterr().out
    assert "[failed] rank_fidelity" in out
    assert f"input {settings.shared / TABLE} is missing" in out


def test_a_done_data_step_needs_no_tool(tmp_path) -> None:
    settings = _settings(tmp_path)
    (settings.shared / CIFAR_TOOL).unlink()
    settings.cifar_root.mkdir()
    (settings.cifar_root / ".complete").write_text("")
    outcomes, problems = dry_run(settings)
    assert problems == []
    assert {o.name: o.status for o in outcomes}["cifar_data"] == "done"


def test_wrong_settings_arguments_and_modules_are_named(tmp_path) -> None:
    steps = {step.name: step for step in plan(_settings(tmp_path))}
    train = steps["nbmacro_supernet"]
    typo = dataclasses.replace(train, args=(*train.args, "schedule.epochz=3"))
    assert any("epochz" in p for p in check_step(typo))
    bad_value = dataclasses.replace(train, args=(*train.args, "amp=fp17"))
    assert any("fp17" in p for p in check_step(bad_value))
    bench = steps["throughput"]
    assert any("refuses" in p for p in check_step(dataclasses.replace(bench, args=("--nope",))))
    gone = Step("gone", "a module that does not exist", "bench.no_such_module", (), 1)
    assert any("does not import" in p for p in check_step(gone))


def test_a_summary_lists_every_step(checked, tmp_path) -> None:
    settings, outcomes, _ = checked
    settings = dataclasses.replace(settings, out=tmp_path)
    path = write_summary(settings, outcomes, "cpu (dry run)", 0.0)
    summary = json.loads(path.read_text())
    assert [s["name"] for s in summary["steps"]] == [o.name for o in outcomes]
    assert summary["figures"] == {}  # nothing ran, nothing measured
    table = (settings.out / "summary.md").read_text()
    assert all(f"| {o.name} | planned |" in table for o in outcomes)


def test_the_runner_keeps_order_skips_dependents_and_enforces_limits(tmp_path) -> None:
    settings = Settings(out=tmp_path, shared=tmp_path, cifar_root=tmp_path / "cifar")
    (tmp_path / "marker").write_text("")
    steps = [
        Step("ok", "prints", None, ("-c", "print('hello')"), 60),
        Step("fails", "exits 3", None, ("-c", "raise SystemExit(3)"), 60),
        Step("needs_it", "after fails", None, ("-c", "print(1)"), 60, after=("fails",)),
        Step("slow", "over its limit", None, ("-c", "import time; time.sleep(60)"), 1),
        Step("done", "already done", None, ("-c", "raise SystemExit(1)"), 60,
             done_if=tmp_path / "marker"),
    ]  # fmt: skip
    outcomes = {o.name: o for o in run_steps(settings, steps)}
    assert list(outcomes) == [step.name for step in steps]
    assert outcomes["ok"].status == "ok" and "hello" in Path(outcomes["ok"].log).read_text()
    assert (outcomes["fails"].status, outcomes["fails"].returncode) == ("failed", 3)
    assert outcomes["needs_it"].status == "skipped" and "fails" in outcomes["needs_it"].note
    assert outcomes["slow"].status == "timeout" and outcomes["slow"].seconds < 30
    assert outcomes["done"].status == "done"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU machine")
def test_the_real_run_refuses_to_start_without_a_gpu(tmp_path) -> None:
    with pytest.raises(CheckError, match="no CUDA device"):
        main(_argv(_settings(tmp_path)))
