"""Latency tables: keys decompose an arch exactly like the cost model, the enumeration is the
union over every arch, tables resume and refuse other setups, the predictor sums and its
fastest architecture is the brute-force minimum."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lamoo_nas.evaluate.errors import EvaluateError, LatencyTableError
from lamoo_nas.evaluate.latency_keys import LatencyKey, all_latency_keys, key_cost, latency_keys
from lamoo_nas.evaluate.latency_table import (
    LatencyPredictor,
    LatencyTable,
    build_latency_table,
    load_latency_table,
)
from lamoo_nas.supernet._channels import block_shapes
from lamoo_nas.supernet.cost import count_cost
from lamoo_nas.supernet.space import ArchConfig, SearchSpace, StageArch, load_space

ROOT = Path(__file__).resolve().parents[2]
MICRO = {
    "name": "micro",
    "stem": {"channels": 8, "stride": 2, "activation": "hswish"},
    "first_block": {"channels": 8, "kernel_size": 3, "activation": "relu"},
    "stages": [
        {"depths": [1, 2], "kernel_sizes": [3, 5], "expand_ratios": [2, 3], "widths": [8, 12],
         "stride": 1, "activation": "relu", "se": False},
        {"depths": [1, 2], "kernel_sizes": [3], "expand_ratios": [2, 4], "widths": [16, 20],
         "stride": 2, "activation": "hswish", "se": True},
    ],
    "final_expand": {"channels": 32, "activation": "hswish"},
    "head": {"channels": None, "activation": "hswish", "dropout": 0.0},
    "resolutions": [8, 12, 13],
}  # fmt: skip


def every_arch(space: SearchSpace) -> list[ArchConfig]:
    """Brute force: every architecture of a small space."""
    per_stage = []
    for spec in space.stages:
        options = []
        for depth in spec.depths:
            for ops in itertools.product(*(spec.layer_ops(j) for j in range(depth))):
                for width in spec.widths:
                    kernels, expands = tuple(k for k, _ in ops), tuple(e for _, e in ops)
                    options.append(StageArch(depth, kernels, expands, width))
        per_stage.append(options)
    return [ArchConfig(r, stages) for r in space.resolutions
            for stages in itertools.product(*per_stage)]  # fmt: skip


def build(
    space: SearchSpace, path: Path, max_keys: int, repeats: int = 2, num_threads: int = 1,
    runtime: str = "torch", rounds: int = 1,
) -> LatencyTable:  # fmt: skip
    """A few keys of a table, timed as briefly as possible."""
    return build_latency_table(space, 10, path, warmup=0, repeats=repeats, max_keys=max_keys,
                               rounds=rounds,
                               num_threads=num_threads, runtime=runtime,
                               progress=False)  # fmt: skip


def synthetic_table(space: SearchSpace, num_classes: int, seed: int = 0) -> LatencyTable:
    """A complete table with random positive latencies (no timing)."""
    keys = all_latency_keys(space)
    values = np.random.default_rng(seed).uniform(0.1, 2.0, len(keys))
    header = {"space": space.name, "space_fingerprint": space.fingerprint,
              "num_classes": num_classes}  # fmt: skip
    return LatencyTable(Path("synthetic.jsonl"), header, dict(zip(keys, values.tolist())))


@pytest.mark.parametrize("name", ["tiny", "cifar", "nbmacro", "ofa_mbv3"])
def test_keys_of_an_arch_are_its_blocks_once_and_sum_to_its_cost(name: str) -> None:
    space = load_space(name)
    every = set(all_latency_keys(space))
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(60))]:
        keys = latency_keys(space, arch)
        fixed = 3 + (space.first_block is not None)  # stem, [first block], final expand, head
        assert len(keys) == fixed + len(block_shapes(space, arch))
        assert sum((key_cost(k, 10) for k in keys[1:]), key_cost(keys[0], 10)) == count_cost(
            space, arch, 10
        )
        assert set(keys) <= every


@pytest.mark.parametrize("definition", ["micro", "nbmacro"])
def test_all_keys_are_the_union_of_every_archs_keys(definition: str) -> None:
    space = SearchSpace.from_dict(MICRO) if definition == "micro" else load_space("nbmacro")
    union = {key for arch in every_arch(space) for key in latency_keys(space, arch)}
    keys = all_latency_keys(space)
    assert len(keys) == len(set(keys)) and set(keys) == union


def test_key_round_trips_through_json_and_names_itself() -> None:
    key = all_latency_keys(load_space("tiny"))[0]
    assert LatencyKey.from_dict(json.loads(json.dumps(key.to_dict()))) == key
    assert len({k.id for k in all_latency_keys(load_space("tiny"))}) == 288


def test_table_resumes_and_measures_only_missing_keys(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    threads = torch.get_num_threads()
    first = build(space, path, 3)
    assert len(first) == 3 and torch.get_num_threads() == threads
    lines = path.read_text().splitlines()
    second = build(space, path, 2)
    assert LatencyPredictor.load(path, space, 10).table.fingerprint == second.fingerprint
    assert second.fingerprint != first.fingerprint
    assert len(second) == 5 and path.read_text().splitlines()[:4] == lines  # kept, appended
    assert len(path.read_text().splitlines()) == 6  # header + 5: nothing measured twice
    assert all(second.latency_ms[k] == v for k, v in first.latency_ms.items())
    header = second.header
    assert header["num_threads"] == 1 and header["device"].startswith("cpu: ")
    assert header["space_fingerprint"] == space.fingerprint and header["runtime"] == "torch"


def test_rounds_interleave_and_their_median_is_the_entry(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    first = all_latency_keys(space)[0]
    table = build(space, path, 290, rounds=2)  # all 288 keys in round 0, then 2 of round 1
    assert len(table) == 288 and len(table.rounds_ms[first]) == 2
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert [row["round"] for row in rows] == [0] * 288 + [1, 1]
    assert table.latency_ms[first] == pytest.approx(np.median(table.rounds_ms[first]))
    table = build(space, path, 3, rounds=2)  # resumes round 1
    assert sum(len(ms) for ms in table.rounds_ms.values()) == 293


def test_torn_last_line_is_ignored_and_dropped_on_resume(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    build(space, path, 2)
    with open(path, "a") as handle:
        handle.write('{"key": {"kind": "blo')  # a write cut short
    assert len(load_latency_table(path, space, 10)) == 2
    assert len(build(space, path, 1)) == 3
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_a_table_of_another_setup_is_refused(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    build(space, path, 1)
    with pytest.raises(LatencyTableError, match=r"repeats: table 2, now 3"):
        build(space, path, 1, repeats=3)
    with pytest.raises(LatencyTableError, match=r"num_threads: table 1, now 2"):
        build(space, path, 1, num_threads=2)
    with pytest.raises(LatencyTableError, match=r"space: table 'tiny', now 'cifar'"):
        build(load_space("cifar"), path, 1)
    with pytest.raises(LatencyTableError, match="measured for space 'tiny'"):
        load_latency_table(path, load_space("cifar"), 10)
    with pytest.raises(LatencyTableError, match="10-class head"):
        load_latency_table(path, space, 100)


def test_corrupt_or_foreign_files_are_refused(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    with pytest.raises(LatencyTableError, match="no latency table"):
        load_latency_table(path, space, 10)
    build(space, path, 2)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(LatencyTableError, match=r"line 2 .* corrupt"):
        load_latency_table(path, space, 10)
    path.write_text('{"a": 1}\n{"b"')
    with pytest.raises(LatencyTableError, match="not a latency table"):
        build(space, path, 1)
    assert path.read_text() == '{"a": 1}\n{"b"'  # someone else's file is left as it was
    assert issubclass(LatencyTableError, EvaluateError)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("median_ms", "fast", r"line 2 of latency table .*: median_ms is 'fast'; it must be"),
        ("median_ms", -1.0, r"line 2 of latency table .*: median_ms -1.0 must be a positive"),
        ("round", 0.5, r"line 2 of latency table .*: round is 0.5; it must be an integer"),
    ],
)
def test_entry_fields_of_the_wrong_type_name_line_and_field(tmp_path, field, value, match):
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    build(space, path, 1)
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row[field] = value
    path.write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n")
    with pytest.raises(LatencyTableError, match=match):
        load_latency_table(path, space, 10)


def test_a_header_field_of_the_wrong_type_is_named_not_misreported(tmp_path: Path) -> None:
    space, path = load_space("tiny"), tmp_path / "t.jsonl"
    build(space, path, 1)
    lines = path.read_text().splitlines()
    header = {**json.loads(lines[0]), "num_classes": "ten"}
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(LatencyTableError, match=r"header: num_classes is 'ten'"):
        load_latency_table(path, space, 10)


def test_predict_is_the_sum_of_the_arch_keys() -> None:
    space = load_space("tiny")
    table = synthetic_table(space, 10)
    predictor = LatencyPredictor(space, 10, table)
    rng = np.random.default_rng(1)
    for arch in (space.sample(rng) for _ in range(20)):
        expected = sum(table.latency_ms[k] for k in latency_keys(space, arch))
        assert predictor.predict_ms(arch) == pytest.approx(expected, rel=1e-12)
    assert predictor.predict_ms(space.largest()) > 0


def test_missing_keys_are_named_with_the_fix(tmp_path: Path) -> None:
    space = load_space("tiny")
    table = synthetic_table(space, 10)
    arch = space.smallest()
    gone = latency_keys(space, arch)[2]
    del table.latency_ms[gone]
    predictor = LatencyPredictor(space, 10, table)
    with pytest.raises(LatencyTableError, match=rf"lacks 1 key.*{gone.id}.*nas-latency-table"):
        predictor.predict_ms(arch)
    with pytest.raises(LatencyTableError, match="lacks 1 key"):
        predictor.fastest_ms()
    with pytest.raises(LatencyTableError, match="not 'cifar'"):
        LatencyPredictor(load_space("cifar"), 10, table)


@pytest.mark.parametrize("definition", ["micro", "nbmacro"])
def test_fastest_is_the_brute_force_minimum(definition: str) -> None:
    space = SearchSpace.from_dict(MICRO) if definition == "micro" else load_space("nbmacro")
    for seed in range(3):
        predictor = LatencyPredictor(space, 10, synthetic_table(space, 10, seed))
        arch, ms = predictor.fastest()
        brute = min(predictor.predict_ms(a) for a in every_arch(space))
        assert ms == pytest.approx(brute, rel=1e-12)
        assert predictor.predict_ms(space.validate(arch)) == pytest.approx(ms, rel=1e-12)


def test_fit_correction_recovers_a_linear_map() -> None:
    space = load_space("tiny")
    predictor = LatencyPredictor(space, 10, synthetic_table(space, 10))
    rng = np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(8)]
    corrected = predictor.fit_correction([(a, 2 * predictor.predict_ms(a) + 1) for a in archs])
    assert (corrected.scale, corrected.offset) == (pytest.approx(2), pytest.approx(1))
    assert corrected.predict_ms(archs[0]) == pytest.approx(2 * predictor.predict_ms(archs[0]) + 1)
    with pytest.raises(LatencyTableError, match=">= 2 networks"):
        predictor.fit_correction([(archs[0], 1.0)])
    with pytest.raises(LatencyTableError, match="slope"):
        predictor.fit_correction([(a, -predictor.predict_ms(a)) for a in archs])


def test_onnxruntime_tables_record_their_runtime(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    table = build(load_space("tiny"), tmp_path / "o.jsonl", 1, runtime="onnxruntime")
    assert len(table) == 1 and next(iter(table.latency_ms.values())) > 0
    assert table.header["runtime"] == "onnxruntime" and "onnxruntime" in table.header["versions"]


def test_cli_builds_from_a_space_file_and_refuses_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    base = [sys.executable, "-m", "lamoo_nas.commands.latency_table", f"out={out}", "warmup=0",
            "repeats=1",
            "max_keys=2", "progress=false"]  # fmt: skip
    run = subprocess.run([*base, f"space={ROOT / 'conf/space/tiny.yaml'}"], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "2 of 288 blocks of space 'tiny' measured, 2 of 864 block-rounds" in run.stdout
    refused = subprocess.run([*base, "space=tiny", "batch_size=2"], capture_output=True,
                             text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: latency table {out} was measured for another setup (batch_size: table 1, "
        "now 2); give another out= or the table's own settings"
    ]
