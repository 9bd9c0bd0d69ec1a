"""The benchmark problems (NAS-Bench-Macro against its own JSON table, DTLZ2 at d=30, the
supernet surrogate) and the benchmark's cache of finished runs."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.search import lamoo_bench
from bench.search.lamoo_bench import QUICK, run_one
from bench.search.nas_surrogate import (
    INHERITED_DATA,
    choose_regressor,
    code_of,
    cross_validate,
    export_inherited,
    fidelity_path,
    read_inherited,
)
from bench.search.problems import (
    NBMACRO_TABLE,
    BenchProblem,
    get_problem,
    nbmacro_dir,
    nbmacro_problem,
)
from lamoo_nas.search import CMAESOptions, LaMOOOptions, hypervolume
from lamoo_nas.supernet.nbmacro import canonical_code

TABLE = nbmacro_dir() / NBMACRO_TABLE
needs_table = pytest.mark.skipif(
    not TABLE.exists(), reason=f"NAS-Bench-Macro table not at {TABLE}; set NBMACRO_DIR"
)


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, Any]]:
    return json.loads(TABLE.read_text())


@pytest.fixture(scope="module")
def problem() -> BenchProblem:
    return get_problem("nbmacro-flops")


def _objectives(row: dict[str, Any]) -> tuple[float, float]:
    return row["mean_acc"], -row["flops"] / 1e6


@needs_table
def test_every_string_of_the_grid_evaluates_to_its_row(problem, raw) -> None:
    grid = list(itertools.product(range(3), repeat=8))
    values = problem.evaluate(grid)
    assert values.shape == (3**8, 2) and problem.codec.dim == 8
    expected = [_objectives(raw["".join(map(str, a))]) for a in grid]
    np.testing.assert_array_equal(values, np.asarray(expected))


@needs_table
def test_known_string_and_its_twin(problem) -> None:
    assert problem.evaluate([(0, 2, 0, 1, 2, 1, 0, 0)]).tolist() == [
        [89.19666544596355, -47.327744]  # "02012100" in the JSON: mean_acc, flops 47327744
    ]
    twin, canonical = (0, 1, 2, 0, 1, 0, 2, 0), (0, 1, 2, 1, 0, 0, 2, 0)  # a skipped layer moved
    assert canonical_code("01201020") == "01210020"
    np.testing.assert_array_equal(problem.evaluate([twin]), problem.evaluate([canonical]))


@needs_table
def test_reference_point_and_max_hv_of_the_distinct_networks(problem, raw) -> None:
    worst_acc = min(row["mean_acc"] for row in raw.values())
    most_flops = max(row["flops"] for row in raw.values())
    assert problem.ref_point == [worst_acc, -most_flops / 1e6]
    assert round(worst_acc, 2) == 45.36  # 00000000, per the table's README
    networks = {canonical_code(code): _objectives(row) for code, row in raw.items()}
    assert len(networks) == 3969
    points = np.asarray(list(networks.values()))
    assert problem.max_hv == pytest.approx(hypervolume(points, problem.ref_point), rel=1e-12)
    everything = np.asarray([_objectives(row) for row in raw.values()])
    assert problem.max_hv == pytest.approx(hypervolume(everything, problem.ref_point), rel=1e-12)


@needs_table
def test_onehot_variant_sees_24_coordinates_of_the_same_problem(problem) -> None:
    onehot = get_problem("nbmacro-flops-onehot")
    assert onehot.name == "nbmacro-flops-onehot" and onehot.codec.dim == 24
    assert onehot.max_hv == problem.max_hv and onehot.ref_point == problem.ref_point
    arch = (2, 1, 0, 2, 2, 1, 0, 1)
    assert onehot.codec.decode(onehot.codec.encode([arch]))[0] == arch
    np.testing.assert_array_equal(onehot.evaluate([arch]), problem.evaluate([arch]))


@needs_table
def test_a_short_random_run_stays_under_max_hv(problem) -> None:
    run = run_one(problem, "random", seed=0, settings=QUICK)
    assert run["problem"] == "nbmacro-flops" and len(run["hv"]) == QUICK.num_samples
    assert 0.0 < run["hv"][-1] <= problem.max_hv


def test_unknown_cost_and_missing_table_are_refused(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="'params' is not 'flops'"):
        get_problem("nbmacro-params")
    monkeypatch.setenv("NBMACRO_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="NBMACRO_DIR"):
        nbmacro_problem()


def test_dtlz2_30_reference_point_lets_random_points_count() -> None:
    problem = get_problem("dtlz2-30")
    r = 1.0 + 29 / 12
    assert problem.codec.dim == 30 and problem.ref_point == [-r, -r]
    assert problem.max_hv == pytest.approx(r**2 - np.pi / 4)
    front = [(0.0,) + (0.5,) * 29, (1.0,) + (0.5,) * 29, (0.5,) * 30]  # g = 0: on the front
    np.testing.assert_allclose(np.linalg.norm(problem.evaluate(front), axis=1), 1.0)
    design = problem.codec.sample(np.random.default_rng(0), 10)
    assert 0.0 < hypervolume(problem.evaluate(design), problem.ref_point) < problem.max_hv


DIGIT_PAIRS = {"0": (0, 0.0), "1": (3, 3.0), "2": (5, 6.0)}  # (kernel, expand) of a digit


def _fake_fidelity(path: Path, raw: dict[str, dict[str, Any]], n: int = 24) -> dict[str, float]:
    """A fidelity.json of ``n`` distinct networks with accuracy = a function of their digits."""
    codes = sorted({canonical_code(c) for c in raw})[:: 3969 // n][:n]
    rows, truth = [], {}
    for code in codes:
        stages, start = [], 0
        for layers in (2, 3, 3):
            ops = [d for i, d in enumerate(code[start : start + layers]) if i == 0 or d != "0"]
            pairs = DIGIT_PAIRS
            stages.append({"kernel_sizes": [pairs[d][0] for d in ops],
                           "expand_ratios": [pairs[d][1] for d in ops]})  # fmt: skip
            start += layers
        truth[code] = 40.0 + sum(int(d) for d in code)
        rows.append({"arch": {"stages": stages}, "inherited": truth[code] / 100})
    path.write_text(json.dumps({"rows": rows}))
    return truth


@needs_table
def test_supernet_surrogate_problem_is_fitted_on_the_fidelity_rows(tmp_path, monkeypatch, raw):
    truth = _fake_fidelity(tmp_path / "fidelity.json", raw)
    monkeypatch.setenv("NBMACRO_FIDELITY", str(tmp_path / "fidelity.json"))
    read = read_inherited(tmp_path / "fidelity.json")
    assert read == pytest.approx(truth) and all(canonical_code(c) == c for c in read)
    scores = cross_validate(read)
    assert set(scores) == {"ridge", "forest", "gp"}
    assert scores[choose_regressor(scores)]["kendall_tau"] == max(
        s["kendall_tau"] for s in scores.values()
    )
    get_problem.cache_clear()
    try:
        problem = get_problem("nbmacro-supernet")
    finally:
        get_problem.cache_clear()
    grid = list(itertools.product(range(3), repeat=8))
    values = problem.evaluate(grid)
    assert values.shape == (3**8, 2) and np.isfinite(values).all()
    np.testing.assert_array_equal(
        values[:, 1], [-raw["".join(map(str, a))]["flops"] / 1e6 for a in grid]
    )
    twin, canonical = (0, 1, 2, 0, 1, 0, 2, 0), (0, 1, 2, 1, 0, 0, 2, 0)
    np.testing.assert_array_equal(problem.evaluate([twin]), problem.evaluate([canonical]))
    # an additive truth is learnt well: the surrogate ranks the fitted networks like the data
    fitted = problem.evaluate([tuple(int(d) for d in c) for c in sorted(truth)])[:, 0]
    assert np.corrcoef(fitted, [truth[c] for c in sorted(truth)])[0, 1] > 0.9
    assert problem.ref_point == [float(values[:, 0].min()), float(values[:, 1].min())]
    assert problem.max_hv == pytest.approx(hypervolume(values, problem.ref_point))


@needs_table
def test_exported_inherited_accuracies_read_back_as_the_fidelity_rows(tmp_path, raw) -> None:
    truth = _fake_fidelity(tmp_path / "fidelity.json", raw)
    out = tmp_path / "data" / "inherited.json"
    assert export_inherited(tmp_path / "fidelity.json", out) == pytest.approx(truth)
    assert read_inherited(out) == read_inherited(tmp_path / "fidelity.json")
    assert not list(out.parent.glob(".*.tmp"))
    (tmp_path / "other.json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ValueError, match="neither 'networks' nor 'rows'"):
        read_inherited(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError, match="NBMACRO_FIDELITY"):
        read_inherited(tmp_path / "missing.json")


def test_the_shipped_inherited_accuracies_are_100_distinct_networks(monkeypatch) -> None:
    monkeypatch.delenv("NBMACRO_FIDELITY", raising=False)
    assert fidelity_path() == INHERITED_DATA
    data = read_inherited(INHERITED_DATA)
    assert len(data) == 100 and all(canonical_code(c) == c and len(c) == 8 for c in data)
    values = np.asarray(list(data.values()))
    assert (values > 10.0).all() and (values < 100.0).all() and values.std() > 1.0


def test_a_fidelity_row_becomes_its_canonical_string() -> None:
    arch = {"stages": [
        {"kernel_sizes": [0, 3], "expand_ratios": [0.0, 3.0]},
        {"kernel_sizes": [5], "expand_ratios": [6.0]},
        {"kernel_sizes": [3, 5, 3], "expand_ratios": [3.0, 6.0, 3.0]},
    ]}  # fmt: skip
    assert code_of(arch) == "01200121"


def test_the_benchmark_caches_each_run_and_reruns_stale_ones(tmp_path, monkeypatch) -> None:
    argv = ["--quick", "--problems", "branincurrin", "--strategies", "random", "lamoo-random",
            "--seeds", "2", "--out", str(tmp_path)]  # fmt: skip
    lamoo_bench.main(argv)
    root = tmp_path / "search_runs_quick" / "branincurrin"
    files = sorted(root.glob("*/seed*.json"))
    assert [f.relative_to(root).as_posix() for f in files] == [
        "lamoo-random/seed0.json", "lamoo-random/seed1.json",
        "random/seed0.json", "random/seed1.json",
    ]  # fmt: skip
    summary = json.loads((tmp_path / "search_summary_quick.json").read_text())
    pair = summary["branincurrin"]["pairs"]["lamoo-random vs random"]
    assert pair["seeds"] == 2 and pair["p_value"] is not None
    calls: list[tuple[str, int]] = []
    original = lamoo_bench.run_one

    def counting(problem, name, seed, settings):  # type: ignore[no-untyped-def]
        calls.append((name, seed))
        return original(problem, name, seed, settings)

    monkeypatch.setattr(lamoo_bench, "run_one", counting)
    lamoo_bench.main(argv)
    assert calls == []  # every run was cached
    stale = json.loads(files[0].read_text())
    stale["fingerprint"] = "another setting"
    files[0].write_text(json.dumps(stale))
    lamoo_bench.main(argv)
    assert calls == [("lamoo-random", 0)]
    assert json.loads(files[0].read_text())["fingerprint"] != "another setting"
    lamoo_bench.main([*argv, "--report", "--seeds", "2", "--first-seed", "1"])  # seed 1 only
    summary = json.loads((tmp_path / "search_summary_quick.json").read_text())
    assert summary["branincurrin"]["strategies"]["random"]["num_seeds"] == 1


def test_per_problem_qehvi_options_reach_both_sides_of_the_pair_only() -> None:
    vehicle, branin = get_problem("vehiclesafety"), get_problem("branincurrin")
    for name in ("qehvi", "lamoo-qehvi"):
        strategy = lamoo_bench.build_strategy(vehicle, name, 0, lamoo_bench.FULL)
        options = strategy.options if name == "qehvi" else strategy.lamoo.qehvi
        assert options.mc_samples == 16  # VehicleSafety's override
        assert options.num_restarts == lamoo_bench.FULL.qehvi.num_restarts
    plain = lamoo_bench.build_strategy(branin, "qehvi", 0, lamoo_bench.FULL)
    assert plain.options.mc_samples == lamoo_bench.FULL.qehvi.mc_samples
    variant = lamoo_bench.VARIANTS
    fp = lamoo_bench.fingerprint
    assert fp(QUICK, variant["random"], "vehiclesafety") == fp(QUICK, variant["random"])
    assert fp(QUICK, variant["qehvi"], "vehiclesafety") != fp(QUICK, variant["qehvi"])


def test_a_changed_lamoo_default_invalidates_the_cached_runs(monkeypatch) -> None:
    variant, fp = lamoo_bench.VARIANTS, lamoo_bench.fingerprint
    before = {name: fp(QUICK, variant[name]) for name in ("random", "lamoo-random")}
    monkeypatch.setattr(lamoo_bench, "LaMOOOptions", functools.partial(LaMOOOptions, cp=0.5))
    assert fp(QUICK, variant["random"]) == before["random"]  # no LaMOO option in it
    assert fp(QUICK, variant["lamoo-random"]) != before["lamoo-random"]


def test_a_sampler_s_own_options_reach_its_fingerprint_only(monkeypatch) -> None:
    variant, fp = lamoo_bench.VARIANTS, lamoo_bench.fingerprint
    names = ("lamoo-random", "lamoo-cmaes", "lamoo-trust")
    before = {name: fp(QUICK, variant[name]) for name in names}
    changed = functools.partial(LaMOOOptions, cmaes=CMAESOptions(sigma0=0.3), max_runs=3)
    monkeypatch.setattr(lamoo_bench, "LaMOOOptions", changed)
    after = {name: fp(QUICK, variant[name]) for name in names}
    assert after["lamoo-cmaes"] != before["lamoo-cmaes"]
    assert after["lamoo-random"] == before["lamoo-random"]  # cached runs stay valid
    assert after["lamoo-trust"] == before["lamoo-trust"]


def test_region_quality_compares_the_region_with_the_space_and_its_samples() -> None:
    from bench.search.region_quality import measure, table

    rows = measure(get_problem("dtlz2"), seed=0, at=[20, 30])
    assert [r["samples"] for r in rows] == [20, 30]
    for row in rows:
        assert 0.0 < row["region_share"] <= 1.0 and row["leaf_samples"] >= 1
        assert row["depth"] >= 1  # 20 samples split at least once
        assert row["hv_uniform_region"] is not None and row["hv_uniform_region"] >= 0.0
        assert row["hv_leaf_samples"] >= 0.0 and row["hv_uniform_space"] >= 0.0
    assert table(rows).count("\n| dtlz2 |") == 2


def test_cmaes_runs_counts_run_starts_and_splits_draws_by_the_region() -> None:
    from bench.search.cmaes_runs import measure, plain_cmaes, tables

    stats, probes = measure(get_problem("dtlz2"), seed=0, at=[30, 60], num_draws=60)
    plain = plain_cmaes(get_problem("dtlz2"), seed=0)
    assert plain["generations"] >= 1 and 0.0 < plain["final_sigma"] < 1.0
    asks_after_design = (lamoo_bench.FULL.num_samples - lamoo_bench.FULL.num_init) // 5
    assert stats["runs_started"] >= 1 and stats["max_generation"] >= 1
    assert stats["runs_started"] + stats["asks_continuing_a_run"] == asks_after_design
    assert [p["samples"] for p in probes] == [30, 60]
    for probe in probes:
        assert 0.0 < probe["accepted_share"] <= 1.0
        assert probe["dominance_in"] is not None and probe["dominance_in"] >= 0.0
        assert probe["front_in"] is not None and 0.0 <= probe["front_in"] <= 1.0
    text = tables([stats], probes, [plain])
    assert text.count("\n| dtlz2 | 1 |") == 1 and text.count("\n| dtlz2 | ") == 3
