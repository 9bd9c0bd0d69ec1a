from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module

from lamoo_nas.commands import api
from lamoo_nas.commands.pipeline import run

SHRUNK = [
    "schedule.epochs=1",
    "data.max_train_images=128",
    "data.calib_images=64",
    "search.num_samples=8",
    "search.batch_size=4",
    "search.num_init=4",
    "search.calib_images=32",
    "retrain.top_k=2",
    "recipe.epochs=1",
    "retrain.latency.repeats=3",
    "retrain.latency.warmup=1",
    "progress=false",
    "supernet.tensorboard=false",
    "retrain.tensorboard=false",
]


def _cfg(run_dir, *overrides: str):
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        return compose("pipeline", overrides=[*SHRUNK, f"run_dir={run_dir}", *overrides])


def test_pipeline_runs_every_stage_and_resumes(tmp_path, capsys) -> None:
    summary = run(_cfg(tmp_path))
    printed = capsys.readouterr().out
    for header in ("== supernet ==", "== search ==", "== retrain ==", "retrain rank 2/2: r"):
        assert header in printed
    assert f"results: {tmp_path}" in printed and "next: nas-evaluate model=" in printed
    assert set(summary["stage_seconds"]) == {"supernet", "search", "retrain"}
    assert len(summary["retrained"]) == 2
    winner = summary["winner"]
    assert winner["macs"] <= 600e3  # the default budget of the digits pipeline
    assert winner["inherited_val_accuracy"] == max(
        r["inherited_val_accuracy"] for r in summary["retrained"]
    )
    for name in ("model.pt", "model.onnx", "model.torchscript.pt", "model.pt2", "arch.json"):
        assert (tmp_path / winner["export_dir"] / name).stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert f"{100 * winner['test_top1']:.2f}%" in report
    assert "The hypervolume is the area dominated by the front in accuracy (%) x MACs" in report
    assert json.loads((tmp_path / "pipeline.json").read_text())["winner"] == winner
    from lamoo_nas.evaluate.rank import run_pairs

    inherited, retrained, _ = run_pairs(tmp_path)  # what nas-evaluate mode=rank run= scores
    assert retrained == [r["test_top1"] for r in summary["retrained"]] and len(inherited) == 2

    final = tmp_path / "supernet" / "final.pt"
    metrics = tmp_path / "retrain" / "rank1" / "metrics.json"
    stamps = (final.stat().st_mtime_ns, metrics.stat().st_mtime_ns)
    again = api.pipeline(config=_cfg(tmp_path))  # the Python API resumes the same run
    assert (final.stat().st_mtime_ns, metrics.stat().st_mtime_ns) == stamps  # nothing redone
    assert again.winner == winner and again.run_dir == tmp_path
    assert again.report == tmp_path / "report.md" and again.retrained == summary["retrained"]
    assert again.front == json.loads((tmp_path / "search" / "pareto.json").read_text())
    assert again.front and again.front[0]["macs"] <= again.front[-1]["macs"]  # cheapest first
    assert again.stage_seconds["supernet"] < summary["stage_seconds"]["supernet"]

    # killed after rank2's export but before its metrics.json: the rerun finishes rank2 alone
    rank2 = tmp_path / "retrain" / "rank2"
    old = json.loads((rank2 / "metrics.json").read_text())
    (rank2 / "metrics.json").unlink()
    exported = rank2 / "export" / "model.pt"
    export_stamp = exported.stat().st_mtime_ns
    third = run(_cfg(tmp_path))
    assert metrics.stat().st_mtime_ns == stamps[1]  # rank1 untouched
    new = json.loads((rank2 / "metrics.json").read_text())
    assert new["steps"] == old["steps"]  # resumed from last.pt, not trained again
    assert exported.stat().st_mtime_ns != export_stamp  # the export was redone, not refused
    assert third["winner"]["test_top1"] == winner["test_top1"]


def test_a_rerun_with_other_settings_is_refused_or_redoes_the_changed_stages(tmp_path) -> None:
    from lamoo_nas.runtime.rundir import RunConfigChangedError

    first = run(_cfg(tmp_path))
    final = tmp_path / "supernet" / "final.pt"
    stamp = final.stat().st_mtime_ns
    with pytest.raises(RunConfigChangedError, match=r"schedule\.epochs: 1 -> 2"):
        run(_cfg(tmp_path, "schedule.epochs=2"))
    with pytest.raises(RunConfigChangedError, match=r"retrain\.top_k: 2 -> 1"):
        run(_cfg(tmp_path, "retrain.top_k=1"))
    again = run(_cfg(tmp_path, "retrain.top_k=1", "resume_changes=[retrain.top_k]"))
    assert len(first["retrained"]) == 2 and len(again["retrained"]) == 1  # no mixing
    assert final.stat().st_mtime_ns == stamp  # the supernet and search stages were kept
    replaced = [p.name for p in tmp_path.iterdir() if p.name.startswith("retrain.replaced-")]
    assert len(replaced) == 1 and (tmp_path / replaced[0] / "rank2" / "metrics.json").is_file()
    changes = json.loads((tmp_path / "run.json").read_text())["changes"]
    assert [c["key"] for c in changes] == ["retrain.top_k"]


def test_the_pipeline_searches_under_a_latency_budget(tmp_path) -> None:
    from lamoo_nas.evaluate.latency_table import LatencyPredictor, build_latency_table
    from lamoo_nas.supernet import load_space

    space = load_space("tiny")
    table = tmp_path / "table.jsonl"
    build_latency_table(space, 10, table, warmup=0, repeats=1, rounds=1, progress=False)
    predictor = LatencyPredictor.load(table, space, 10)
    budget_ms = 0.5 * (predictor.fastest_ms() + predictor.predict_ms(space.largest()))
    latency = [f"search.latency_table={table}", "search.objectives=[accuracy,latency]",
               f"search.budget.latency_ms={budget_ms}", "search.budget.macs=null"]  # fmt: skip
    summary = run(_cfg(tmp_path / "run", *latency, "retrain.top_k=1"))
    winner = summary["winner"]
    assert winner["latency_predicted_ms"] <= budget_ms
    report = (tmp_path / "run" / "report.md").read_text()
    assert "predicted ms" in report and f"{winner['latency_predicted_ms']:.3f}" in report


@pytest.mark.slow  # ~2.5 min loaded; default cover: test_executor's local-pool tests (same history)
def test_two_local_workers_search_and_retrain_like_serial(tmp_path, capsys) -> None:
    """executor=local: the search's batches and the top-k retrainings run on 2 worker
    processes, and every result is the serial run's. The serial run is copied with its search
    and retrain stages removed, so both search the same supernet weights, and the copy resumes
    with the other executor (which a resume accepts: it changes no result)."""
    import shutil

    serial = run(_cfg(tmp_path / "serial"))
    shutil.copytree(tmp_path / "serial", tmp_path / "local")
    for stage in ("search", "retrain"):
        shutil.rmtree(tmp_path / "local" / stage)
    pooled = run(_cfg(tmp_path / "local", "executor=local", "executor.num_workers=2"))
    assert "retrain rank 2/2: r" in capsys.readouterr().out

    def trail(name: str) -> list:
        history = json.loads((tmp_path / name / "search" / "history.json").read_text())
        return [(e["arch"], e["objectives"]) for e in history["evaluations"]]

    assert trail("local") == trail("serial") and len(trail("serial")) == 8
    kept = ("rank", "arch", "inherited_val_accuracy", "test_top1", "macs", "params")
    for mine, theirs in zip(pooled["retrained"], serial["retrained"], strict=True):
        assert [mine.get(k) for k in kept] == [theirs.get(k) for k in kept]
    assert pooled["winner"]["test_top1"] == serial["winner"]["test_top1"]


def test_the_pipeline_searches_a_few_shot_split_of_its_supernet(tmp_path) -> None:
    split = ["few_shot=choices", "few_shot.split=[stages.0.depth]", "few_shot.epochs=2"]
    summary = run(_cfg(tmp_path, *split, "retrain.top_k=1"))
    assert "few_shot" in summary["stage_seconds"]
    assert (tmp_path / "few_shot" / "region1" / "final.pt").is_file()
    header = (tmp_path / "search" / "accuracy_cache.jsonl").read_text().splitlines()[0]
    assert "few_shot/partition.json" in header  # the search scored the few-shot run
    again = run(_cfg(tmp_path, *split, "retrain.top_k=1"))  # resumes: every stage kept
    assert again["winner"] == summary["winner"]
