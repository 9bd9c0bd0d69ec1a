"""Every console script goes through commands.runner.run_cli: the project's errors are one line."""

from __future__ import annotations

import pytest

from lamoo_nas.commands.train_supernet import main as train_main


def test_bad_training_config_is_one_line_error(tmp_path, monkeypatch) -> None:
    argv = ["nas-train-supernet", "schedule.epochs=-2", f"run_dir={tmp_path / 'run'}"]
    monkeypatch.setattr("sys.argv", [*argv, f"hydra.run.dir={tmp_path / 'h'}"])
    with pytest.raises(SystemExit) as info:
        train_main()
    message = str(info.value.code)
    assert message.startswith("error:") and "epochs" in message and "-2" in message
    assert "\n" not in message


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch) -> None:
    import lamoo_nas.commands.train_supernet as cli

    def broken(cfg):
        raise ZeroDivisionError("a bug, not bad input")

    monkeypatch.setattr(cli, "run", broken)
    argv = ["nas-train-supernet", f"run_dir={tmp_path / 'run'}", f"hydra.run.dir={tmp_path}"]
    monkeypatch.setattr("sys.argv", argv)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ZeroDivisionError):
        train_main()


def test_missing_required_setting_is_one_line_error(tmp_path, monkeypatch) -> None:
    from lamoo_nas.commands.search import main as search_main

    monkeypatch.setattr("sys.argv", ["nas-search", f"hydra.run.dir={tmp_path / 'h'}"])
    with pytest.raises(SystemExit) as info:
        search_main()
    message = str(info.value.code)
    assert message.startswith("error: nas-search needs supernet=") and "\n" not in message


def test_ctrl_c_is_one_line_with_the_way_to_resume(tmp_path, monkeypatch) -> None:
    import lamoo_nas.commands.train_supernet as cli

    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    argv = ["nas-train-supernet", f"run_dir={tmp_path / 'run'}", f"hydra.run.dir={tmp_path}"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as info:
        train_main()
    message = str(info.value.code)
    assert message.startswith("interrupted: nas-train-supernet") and "resume=true" in message


def test_failed_calls_leave_no_run_directory(tmp_path, monkeypatch) -> None:
    from lamoo_nas.commands.search import main as search_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["nas-search", f"supernet={tmp_path / 'nothing'}"])
    with pytest.raises(SystemExit) as info:
        search_main()
    assert str(info.value.code).startswith("error: no checkpoint")
    assert list(tmp_path.iterdir()) == []


def test_run_dir_holds_the_resolved_config_and_the_run_says_so(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "mine"
    argv = ["nas-train-supernet", f"run_dir={run_dir}", "schedule.epochs=1",
            "data.max_train_images=32", "data.batch_size=16", "progress=false",
            "tensorboard=false"]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    train_main()
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "final.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    out = capsys.readouterr().out
    assert f"run directory: {run_dir}" in out
    assert f"done: {run_dir / 'final.pt'}; validation accuracy largest" in out
    assert f"next: nas-search supernet={run_dir}" in out
