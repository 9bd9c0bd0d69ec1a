"""nas-evaluate: composed config, model / rank modes, one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from lamoo_nas.commands.evaluate import format_table, run_from_config
from lamoo_nas.evaluate.export import export_model
from lamoo_nas.runtime.data import DataConfig, preprocessing_spec
from lamoo_nas.supernet import build_static, load_space
from lamoo_nas.supernet.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf")


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("evaluate", overrides=["latency.warmup=1", "latency.repeats=2", *overrides])


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    space = load_space("tiny")
    torch.manual_seed(0)
    net = build_static(space, space.smallest(), 10)
    folder = tmp_path_factory.mktemp("ev") / "export"
    spec = preprocessing_spec(DataConfig(), [str(i) for i in range(10)], 12)
    export_model(net, space.smallest(), space, 10, folder, preprocessing=spec)
    return folder


def test_model_mode_needs_data_when_the_export_does_not_record_it(tmp_path: Path) -> None:
    space = load_space("tiny")
    net = build_static(space, space.smallest(), 10)
    export_model(net, space.smallest(), space, 10, tmp_path / "old")
    with pytest.raises(ConfigError, match=r"does not record its training data.*pass data="):
        run_from_config(_cfg(f"model={tmp_path / 'old'}"), tmp_path)
    result = run_from_config(_cfg(f"model={tmp_path / 'old'}", "data=digits"), tmp_path)
    assert result["num_images"] == 269


def test_model_mode_scores_the_test_split(export_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.json"
    result = run_from_config(_cfg(f"model={export_dir}", f"out={out}"), tmp_path)
    assert result["mode"] == "model" and result["split"] == "test"
    assert result["num_images"] == 269 and 0.0 <= result["top1"] <= 1.0
    assert json.loads(out.read_text())["macs"] == result["macs"] > 0
    assert "top1" in format_table(result)


def test_val_split_is_selectable(export_dir: Path, tmp_path: Path) -> None:
    result = run_from_config(_cfg(f"model={export_dir}", "split=val"), tmp_path)
    assert result["split"] == "val" and result["num_images"] != 269


def test_rank_mode_writes_report_and_plot(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("inherited,retrained\n0.1,0.5\n0.2,0.7\n0.3,0.6\n")
    result = run_from_config(_cfg("mode=rank", f"pairs={pairs}"), tmp_path)
    assert result["n"] == 3 and result["kendall_tau"] == pytest.approx(1 / 3)
    assert Path(result["plot"]).is_file()


def test_nothing_to_evaluate_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        run_from_config(_cfg(), tmp_path)


def test_foreign_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, bogus)
    done = subprocess.run(
        [sys.executable, "-m", "lamoo_nas.commands.evaluate", f"model={bogus}",
         f"out={tmp_path / 'o.json'}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:") and "not an exported model" in done.stderr


def test_supernet_mode_recalibrates_and_scores(tmp_path: Path) -> None:
    from lamoo_nas.commands.train_supernet import run
    from lamoo_nas.supernet import count_cost
    from tests.train._supernet_config import compose_cfg

    run_dir = tmp_path / "supernet"
    run(compose_cfg(f"run_dir={run_dir}", "schedule.epochs=1", "eval.every_epochs=1"))
    space = load_space("tiny")
    arch = space.largest()
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(space.arch_to_json(arch)))
    cfg = _cfg(f"supernet={run_dir}", f"arch={arch_path}", "split=val", "calib_images=64")
    result = run_from_config(cfg, tmp_path)
    assert result["mode"] == "supernet" and result["split"] == "val"
    assert result["macs"] == count_cost(space, arch, 10).macs
    assert 0.0 <= result["top1"] <= 1.0 and result["num_images"] > 0
    other = load_space("cifar")
    arch_path.write_text(json.dumps(other.arch_to_json(other.smallest())))
    with pytest.raises(Exception, match="cifar"):
        run_from_config(cfg, tmp_path)


@pytest.fixture(scope="module")
def nbmacro_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (very short) ``nbmacro`` supernet run on digits at 8x8."""
    import dataclasses

    from tests.fixtures import train_short_run

    space = dataclasses.replace(load_space("nbmacro"), resolutions=(8,))
    return train_short_run(space, tmp_path_factory.mktemp("nbmacro_run"), 64, 32)


def test_rank_mode_against_a_ground_truth_table(nbmacro_run: Path, tmp_path: Path) -> None:
    from tests.nbmacro_table import nbmacro_table_path

    table = nbmacro_table_path()
    out = tmp_path / "rank" / "evaluation.json"
    cfg = _cfg("mode=rank", f"supernet={nbmacro_run}", f"truth={table}", "num_archs=20",
               "bootstrap=50", f"out={out}")  # fmt: skip
    result = run_from_config(cfg, tmp_path)
    report = json.loads((out.parent / "fidelity.json").read_text())
    assert report["num_archs"] == len(report["rows"]) == 20
    assert set(report["metrics"]) == {"supernet", "macs", "params", "layers", "seed_ceiling"}
    raw = json.loads(table.read_text())
    from lamoo_nas.supernet.nbmacro import code_from_arch

    space = load_space("nbmacro")
    for row in report["rows"]:
        arch = space.arch_from_json({**row["arch"], "resolution": 32, "space_fingerprint": None})
        assert row["true"] == pytest.approx(raw[code_from_arch(space, arch)]["mean_acc"] / 100)
        assert 0.0 <= row["inherited"] <= 1.0
    assert result["supernet_kendall_tau"] == report["metrics"]["supernet"]["kendall_tau"]
    assert (out.parent / "fidelity.png").is_file() and (out.parent / "fidelity.md").is_file()


def test_rank_mode_with_truth_needs_a_supernet_of_the_tables_space(
    trained_run: Path, tmp_path: Path
) -> None:
    from lamoo_nas.evaluate.ground_truth import GroundTruthError
    from tests.nbmacro_table import nbmacro_table_path

    table = nbmacro_table_path()
    with pytest.raises(ConfigError, match="needs supernet="):
        run_from_config(_cfg("mode=rank", f"truth={table}"), tmp_path)
    with pytest.raises(GroundTruthError, match="space=nbmacro"):
        run_from_config(_cfg("mode=rank", f"truth={table}", f"supernet={trained_run}"), tmp_path)


def test_rank_mode_builds_the_pairs_of_a_pipeline_run(tmp_path: Path) -> None:
    rows = [{"rank": i + 1, "inherited_val_accuracy": a, "test_top1": b}
            for i, (a, b) in enumerate([(0.9, 0.95), (0.8, 0.9), (0.7, 0.91)])]  # fmt: skip
    (tmp_path / "pipeline.json").write_text(json.dumps({"retrained": rows}))
    out = tmp_path / "rank" / "evaluation.json"
    result = run_from_config(_cfg("mode=rank", f"run={tmp_path}", f"out={out}"), tmp_path)
    assert result["n"] == 3 and result["kendall_tau"] == pytest.approx(1 / 3)
    assert (out.parent / "pairs.csv").read_text().startswith("arch,inherited,retrained\n")
